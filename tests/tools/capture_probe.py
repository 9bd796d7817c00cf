#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Listener and client that show where a connection landed.

  capture_probe.py serve NAME --tcp P,P,... [--udp P,...] [--transparent P,...]
      Listens on 0.0.0.0 and :: for every port. Each accepted TCP connection
      gets one line and is closed:  NAME L=<listening port> O=<original dst>
      where the original destination comes from SO_ORIGINAL_DST (SOL_IP 80 /
      SOL_IPV6 80), "-" when conntrack has none. A UDP datagram is answered
      with the same line. --transparent ports set IP_TRANSPARENT (TPROXY).
      Prints "ready" on stdout once every socket listens.

  capture_probe.py connect HOST PORT [--src ADDR] [--udp] [--timeout S]
      Prints the server's line, or REFUSED / TIMEOUT / ERROR:<text>.
"""

import argparse
import selectors
import socket
import struct
import sys

SO_ORIGINAL_DST = 80
IP_TRANSPARENT = 19
IPV6_TRANSPARENT = 75


def original_dst(conn, family):
    try:
        if family == socket.AF_INET:
            raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
            port = struct.unpack("!H", raw[2:4])[0]
            return "%s:%d" % (socket.inet_ntop(socket.AF_INET, raw[4:8]), port)
        raw = conn.getsockopt(socket.IPPROTO_IPV6, SO_ORIGINAL_DST, 28)
        port = struct.unpack("!H", raw[2:4])[0]
        return "[%s]:%d" % (socket.inet_ntop(socket.AF_INET6, raw[8:24]), port)
    except OSError:
        return "-"


def ports(text):
    return [int(p) for p in text.split(",") if p] if text else []


def serve(args):
    sel = selectors.DefaultSelector()
    transparent = set(ports(args.transparent))
    for port in ports(args.tcp):
        for family, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            s = socket.socket(family, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port in transparent:
                if family == socket.AF_INET:
                    s.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
                else:
                    s.setsockopt(socket.IPPROTO_IPV6, IPV6_TRANSPARENT, 1)
            s.bind((addr, port))
            s.listen(64)
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, ("tcp", port, family))
    for port in ports(args.udp):
        for family, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            s = socket.socket(family, socket.SOCK_DGRAM)
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((addr, port))
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, ("udp", port, family))
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            kind, port, family = key.data
            s = key.fileobj
            try:
                if kind == "tcp":
                    conn, _ = s.accept()
                    conn.setblocking(True)
                    line = "%s L=%d O=%s\n" % (args.name, port, original_dst(conn, family))
                    conn.sendall(line.encode())
                    conn.close()
                else:
                    _, peer = s.recvfrom(2048)
                    s.sendto(("%s L=%d udp\n" % (args.name, port)).encode(), peer)
            except OSError:
                pass


def connect(args):
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    kind = socket.SOCK_DGRAM if args.udp else socket.SOCK_STREAM
    s = socket.socket(family, kind)
    s.settimeout(args.timeout)
    try:
        if args.src:
            s.bind((args.src, 0))
        if args.udp:
            s.sendto(b"probe", (args.host, args.port))
            data, _ = s.recvfrom(2048)
        else:
            s.connect((args.host, args.port))
            data = s.recv(2048)
        print(data.decode().strip())
    except ConnectionRefusedError:
        print("REFUSED")
    except socket.timeout:
        print("TIMEOUT")
    except OSError as e:
        print("ERROR:%s" % e.strerror)
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("name")
    s.add_argument("--tcp", default="")
    s.add_argument("--udp", default="")
    s.add_argument("--transparent", default="")
    c = sub.add_parser("connect")
    c.add_argument("host")
    c.add_argument("port", type=int)
    c.add_argument("--src")
    c.add_argument("--udp", action="store_true")
    c.add_argument("--timeout", type=float, default=2.0)
    args = ap.parse_args()
    if args.cmd == "serve":
        serve(args)
        return 0
    return connect(args)


if __name__ == "__main__":
    sys.exit(main())

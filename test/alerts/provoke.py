"""Traffic that trips alerts, run inside the test's network namespace.

  provoke.py listen-overflow PORT SECONDS   a listener with backlog 1 that
      never accepts, and clients connecting to it: completed handshakes find
      the accept queue full (TcpExtListenOverflows).
  provoke.py udp-rcvbuf PORT SECONDS        a UDP socket with a tiny receive
      buffer that never reads, and a sender flooding it (UdpRcvbufErrors).
Only 127.0.0.1 of the namespace is used.
"""
import socket
import sys
import time


def listen_overflow(port, seconds):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(1)
    clients = []
    end = time.time() + seconds
    while time.time() < end:
        for _ in range(10):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", port))
            clients.append(c)
        while len(clients) > 200:
            clients.pop(0).close()
        time.sleep(0.2)


def udp_rcvbuf(port, seconds):
    rcv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rcv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    rcv.bind(("127.0.0.1", port))
    snd = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    end = time.time() + seconds
    while time.time() < end:
        for _ in range(100):
            snd.sendto(b"x" * 512, ("127.0.0.1", port))
        time.sleep(0.1)


if __name__ == "__main__":
    kind, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    {"listen-overflow": listen_overflow, "udp-rcvbuf": udp_rcvbuf}[kind](port, seconds)

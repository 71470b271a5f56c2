"""Holds, inside the test's namespace, a listener on 127.0.0.1:8080 with
backlog 7, PAIRS established connections to it that were accepted and
QUEUED more that wait in its accept queue, until killed: values that stay
put, so Zabbix and the exporter can be compared exactly."""
import socket
import sys
import time

pairs, queued = int(sys.argv[1]), int(sys.argv[2])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 8080))
srv.listen(7)
held = []
for _ in range(pairs):
    c = socket.create_connection(("127.0.0.1", 8080))
    s, _ = srv.accept()
    held += [c, s]
for _ in range(queued):
    held.append(socket.create_connection(("127.0.0.1", 8080)))
print("ready", flush=True)
while True:
    time.sleep(3600)

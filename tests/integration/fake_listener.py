"""A TCP listener on a thread, the base of the fake next hops and peers the
tests talk to (a broken TLS hop, a refusing MX, a silent peer, an ODMR
customer's SMTP server): it accepts until close() and hands each connection
to `on_connection`, on a thread of its own when `threaded`."""

import socket
import threading

import harness

ACCEPT_POLL_S = 0.2  # how soon the accept loop notices close()
JOIN_TIMEOUT_S = 5


class FakeListener:
    def __init__(self, on_connection, host=harness.LOOPBACK, port=0, threaded=True,
                 reuse_address=False, backlog=16):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if reuse_address:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(backlog)
        self.sock.settimeout(ACCEPT_POLL_S)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.closing = threading.Event()
        self._on_connection = on_connection
        self._threaded = threaded
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self.closing.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:  # the poll timeout, or closed
                continue
            self.accepted += 1
            if self._threaded:
                threading.Thread(target=self._on_connection, args=(conn,), daemon=True).start()
            else:
                self._on_connection(conn)

    def close(self):
        self.closing.set()
        self._thread.join(JOIN_TIMEOUT_S)
        self.sock.close()

"""A tiny RESP3 client for the generators (standard library only).

Replies are parsed into typed tuples so the generators can see exactly which
RESP3 type Redis used for every value: ('simple', str), ('error', str),
('int', int), ('bulk', str), ('null', None), ('double', str), ('bool', bool),
('verb', str), ('array'|'set'|'push', [..]), ('map', [(k, v), ..]).
"""
import socket


class Conn:
    def __init__(self, port, host="127.0.0.1", resp3=True):
        self.sock = socket.create_connection((host, port))
        self.buf = b""
        if resp3:
            reply = self.cmd("HELLO", "3")
            assert reply[0] == "map", reply

    def _fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise EOFError("server closed the connection")
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data = self.buf[:n]
        self.buf = self.buf[n + 2:]
        return data

    def read(self):
        line = self._line()
        kind, rest = chr(line[0]), line[1:]
        if kind == "+":
            return ("simple", rest.decode())
        if kind == "-":
            return ("error", rest.decode())
        if kind == ":":
            return ("int", int(rest))
        if kind == "$":
            n = int(rest)
            return ("null", None) if n < 0 else ("bulk", self._exact(n).decode())
        if kind == "_":
            return ("null", None)
        if kind == ",":
            return ("double", rest.decode())
        if kind == "#":
            return ("bool", rest == b"t")
        if kind == "=":
            return ("verb", self._exact(int(rest)).decode())
        if kind in "*~>":
            n = int(rest)
            name = {"*": "array", "~": "set", ">": "push"}[kind]
            if n < 0:
                return ("nullarray", None)
            return (name, [self.read() for _ in range(n)])
        if kind == "%":
            n = int(rest)
            return ("map", [(self.read(), self.read()) for _ in range(n)])
        raise ValueError("unexpected RESP line %r" % line)

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for arg in args:
            arg = arg if isinstance(arg, bytes) else str(arg).encode()
            out += b"$%d\r\n%s\r\n" % (len(arg), arg)
        self.sock.sendall(out)
        return self.read()


def unwrap(value):
    """Drops the type tags, for places where only the data matters."""
    kind, data = value
    if kind in ("array", "set", "push"):
        return [unwrap(v) for v in data]
    if kind == "map":
        return {unwrap(k): unwrap(v) for k, v in data}
    return data


def escape(s):
    """The fixture string escape shared with the Rust tests (`testdata` helpers)."""
    out = []
    for b in s.encode():
        if 0x20 <= b < 0x7F and b not in (0x22, 0x5C):
            out.append(chr(b))
        else:
            out.append("\\x%02x" % b)
    return '"' + "".join(out) + '"'


def render(value):
    """Renders a typed reply in the compact fixture notation that the Rust
    tests also produce from a `resp::Frame`."""
    kind, data = value
    if kind == "simple":
        return "+" + escape(data)
    if kind == "error":
        return "-" + escape(data)
    if kind == "bulk":
        return "$" + escape(data)
    if kind == "int":
        return ":%d" % data
    if kind == "null":
        return "_"
    if kind == "array":
        return "*[" + ",".join(render(v) for v in data) + "]"
    if kind == "set":
        return "~[" + ",".join(render(v) for v in data) + "]"
    if kind == "map":
        return "%{" + ",".join(render(k) + "=>" + render(v) for k, v in data) + "}"
    raise ValueError("no fixture notation for %r" % kind)

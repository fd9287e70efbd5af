"""Loopback HTTP(S) servers for the HTTP-client tests: a scripted server, a forward proxy, and a
throwaway CA with server and client certificates (cryptography). 127.0.0.1 only."""
import datetime
import ipaddress
import json
import os
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ScriptedServer:
    """Answers each request with the next item of ``script``:

    ``(status, body)`` or ``(status, body, headers)`` (body: dict -> JSON, or bytes),
    ``("sleep", seconds, item)`` (answer ``item`` after a delay), ``"drop"`` (close without an
    answer). The last item repeats when the script runs out. ``requests`` records every call.
    """

    def __init__(self, script, tls=None):
        self.script = list(script)
        self.requests = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with outer.lock:
                    outer.requests.append({"method": self.command, "path": self.path,
                                           "headers": dict(self.headers), "body": body,
                                           "client": self.client_address})
                    item = outer.script.pop(0) if len(outer.script) > 1 else outer.script[0]
                if isinstance(item, tuple) and item[0] == "sleep":
                    time.sleep(item[1])
                    item = item[2]
                if item == "drop":
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                status, payload = item[0], item[1]
                headers = item[2] if len(item) > 2 else {}
                raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for key, value in headers.items():
                    self.send_header(key, str(value))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PUT = do_DELETE = _any

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = "%s://127.0.0.1:%d/api" % (scheme, self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def methods(self):
        return [r["method"] for r in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class ForwardProxy:
    """A plain-HTTP forward proxy that answers itself: it records the absolute URI each request
    was sent to (proof it went through the proxy) and answers a MailWizz success envelope."""

    def __init__(self):
        self.seen = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                outer.seen.append((self.command, self.path))
                raw = json.dumps({"status": "success", "data": {"records": []}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PUT = do_DELETE = _any

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class LoopbackPKI:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files."""

    def __init__(self, directory):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        now = datetime.datetime.now(datetime.timezone.utc)

        def key():
            return ec.generate_private_key(ec.SECP256R1())

        def name(cn):
            return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

        def write(path, data):
            with open(path, "wb") as handle:
                handle.write(data)
            return path

        def pem_key(k):
            return k.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption())

        ca_key = key()
        ca = (x509.CertificateBuilder().subject_name(name("mailfleet test CA"))
              .issuer_name(name("mailfleet test CA")).public_key(ca_key.public_key())
              .serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(days=1))
              .not_valid_after(now + datetime.timedelta(days=2))
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                           crl_sign=True, content_commitment=False,
                                           key_encipherment=False, data_encipherment=False,
                                           key_agreement=False, encipher_only=False,
                                           decipher_only=False), critical=True)
              .sign(ca_key, hashes.SHA256()))

        def leaf(cn, usage, san=None):
            k = key()
            builder = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(ca.subject)
                       .public_key(k.public_key()).serial_number(x509.random_serial_number())
                       .not_valid_before(now - datetime.timedelta(days=1))
                       .not_valid_after(now + datetime.timedelta(days=2))
                       .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                       .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                           ca_key.public_key()), critical=False))
            if san:
                builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
            return k, builder.sign(ca_key, hashes.SHA256())

        srv_key, srv = leaf("127.0.0.1", ExtendedKeyUsageOID.SERVER_AUTH,
                            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        cli_key, cli = leaf("mailfleet client", ExtendedKeyUsageOID.CLIENT_AUTH)
        pem = serialization.Encoding.PEM
        self.ca = write(os.path.join(directory, "ca.pem"), ca.public_bytes(pem))
        self.server_cert = write(os.path.join(directory, "server.pem"), srv.public_bytes(pem))
        self.server_key = write(os.path.join(directory, "server.key"), pem_key(srv_key))
        self.client_cert = write(os.path.join(directory, "client.pem"), cli.public_bytes(pem))
        self.client_key = write(os.path.join(directory, "client.key"), pem_key(cli_key))
        self.client_combined = write(os.path.join(directory, "client-combined.pem"),
                                     cli.public_bytes(pem) + pem_key(cli_key))

    def server_context(self, require_client_cert=False):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.server_cert, self.server_key)
        if require_client_cert:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(self.ca)
        return ctx

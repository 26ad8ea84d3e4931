#!/bin/sh
# feedsim_certs.sh OUTDIR - a throwaway CA and a server certificate for feedsim's TLS tests.
#
# Writes OUTDIR/ca.pem (the CA certificate clients trust), OUTDIR/server.pem (the server
# certificate followed by the CA: the chain feedsim serves) and OUTDIR/server.key. The server
# certificate is for CN=localhost with subjectAltName DNS:localhost and IP:127.0.0.1, valid
# for two days. Keys are EC P-256 (fast to make). Nothing here is secret: the directory is a
# test's temporary directory.
set -eu
out=${1:?usage: feedsim_certs.sh OUTDIR}
mkdir -p "$out"
cd "$out"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=feedsim test CA" -keyout ca.key -out ca.pem \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
    2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout server.key -out server.csr 2>/dev/null
cat > server.ext <<EXT
basicConstraints=CA:FALSE
keyUsage=digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
EXT
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile server.ext -out server.crt 2>/dev/null
cat server.crt ca.pem > server.pem
rm -f server.csr server.ext ca.srl

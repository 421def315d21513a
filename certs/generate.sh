#!/usr/bin/env sh
# Generates a development CA, a server certificate for localhost and a client certificate,
# all signed by that CA, into this folder (or the folder given as $1).
# For development and tests only: the keys are unencrypted and the CA is trusted by nothing.
#
#   certs/generate.sh [DIR] [CLIENT_NAME]
#
# Files: ca.pem ca.key server.pem server.key client.pem client.key (client CN and DNS SAN =
# CLIENT_NAME, default "guest").
set -eu

dir=${1:-$(dirname "$0")}
client=${2:-guest}
days=825
mkdir -p "$dir"
cd "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The CA.
openssl req -x509 -newkey rsa:2048 -nodes -days "$days" \
    -subj "/CN=Warren development CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout ca.key -out ca.pem 2>/dev/null

# Signs $1.csr with the CA into $1.pem, with the extensions in $2.
sign() {
    printf '%s\n' "$2" > "$tmp/$1.ext"
    openssl x509 -req -in "$tmp/$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
        -days "$days" -sha256 -extfile "$tmp/$1.ext" -out "$1.pem" 2>/dev/null
}

# The server: localhost by name and address.
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout server.key -out "$tmp/server.csr" 2>/dev/null
sign server "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"

# The client: its CN (and DNS SAN) is the user it logs in as with certificate login.
openssl req -newkey rsa:2048 -nodes -subj "/CN=$client" \
    -keyout client.key -out "$tmp/client.csr" 2>/dev/null
sign client "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth
subjectAltName=DNS:$client"

rm -f ca.srl
chmod 600 ca.key server.key client.key
echo "wrote ca.pem server.pem server.key client.pem client.key (client CN=$client) to $(pwd)"

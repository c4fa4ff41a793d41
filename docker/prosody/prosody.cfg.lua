-- Prosody for Causeway's docker-compose demo (docker-compose.yml). NOT a
-- production configuration: one domain, no federation, no HTTP, no TLS.
--
-- Causeway reaches this server as prosody:5222 over the private compose
-- network; the XMPP domain clients log in to is "localhost".
--
-- Why no TLS: Causeway's `tcp://` upstream uses STARTTLS whenever the server
-- offers it and always verifies the certificate (there is no switch to skip
-- that), and a self-signed certificate for "localhost" cannot be verified.
-- So this server offers no STARTTLS at all (mod_tls disabled, no
-- certificates) and lets clients authenticate without it. That is acceptable
-- ONLY because port 5222 is never published outside the compose network.
-- Against a real server, use starttls:// or tls:// with a certificate
-- Causeway can verify (--upstream-ca-file for a private CA).
--
-- Accounts: docker compose exec prosody prosodyctl register alice localhost PASSWORD

---------- Server-wide settings ----------

-- In-band registration stays off: accounts are made with prosodyctl.
allow_registration = false
admins = { }

-- Listeners: client-to-server only, on the container's interfaces.
interfaces = { "*" }
c2s_ports = { 5222 }
c2s_direct_tls_ports = { }
s2s_ports = { }
s2s_direct_tls_ports = { }
component_ports = { }
http_ports = { }
https_ports = { }

-- Private compose network only (see the header): authentication is allowed
-- on the unencrypted link from Causeway. PLAIN stays forbidden without TLS;
-- SCRAM-SHA-1, which every client named in the README supports, never sends
-- the password itself.
c2s_require_encryption = false
allow_unencrypted_plain_auth = false

authentication = "internal_hashed"
storage = "internal"
data_path = "/var/lib/prosody"

modules_enabled = {
	"disco";        -- Service discovery
	"roster";       -- Contact lists
	"saslauth";     -- Authentication
	"carbons";      -- Message copies to a user's other clients (XEP-0280)
	"pep";          -- Personal eventing: avatars, bookmarks, OMEMO keys
	"private";      -- Legacy private XML storage (XEP-0049)
	"bookmarks";    -- Group chat bookmarks
	"blocklist";    -- Blocking (XEP-0191)
	"vcard4";       -- User profiles
	"vcard_legacy"; -- vcard-temp for older clients
	"smacks";       -- Stream management (XEP-0198)
	"ping";         -- XMPP ping (XEP-0199)
	"time";
	"version";
	"uptime";
}

modules_disabled = {
	"tls";            -- never offer STARTTLS (see the header)
	"s2s";            -- no federation in the demo
	"s2s_auth_certs";
}

-- Console output is what `docker compose logs prosody` shows.
log = {
	{ levels = { min = "info" }, to = "console" };
}

----------- Virtual hosts -----------

VirtualHost "localhost"

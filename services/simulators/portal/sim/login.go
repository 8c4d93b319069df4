package sim

import (
	"fmt"
	"net/http"
)

// loginPage serves the form of a form portal, or for the script portal a page whose
// script posts the credentials with a proof of having run, then sets the session cookie
// from the answer (document.cookie): a client without JavaScript cannot sign in. The page
// loads nothing else (inline script, no favicon), so a browser makes one request at a time.
func (s *Server) loginPage(ps *portalState) page {
	h := http.Header{"Content-Type": {"text/html; charset=utf-8"}}
	if ps.Login == LoginForm {
		return page{status: http.StatusOK, header: h, body: []byte(`<!DOCTYPE html><html><head><title>Sign in</title></head><body>
<form method="post" action="/login"><input name="username"><input name="password" type="password"><button type="submit">Sign in</button></form>
</body></html>
`)}
	}
	nonce := randomToken()
	s.mu.Lock()
	s.nonces[nonce] = ps.Host
	s.mu.Unlock()
	return page{status: http.StatusOK, header: h, body: fmt.Appendf(nil, `<!DOCTYPE html><html><head><title>Sign in</title><link rel="icon" href="data:,"></head><body>
<form id="login"><input id="username" name="username"><input id="password" name="password" type="password"><button id="submit" type="submit">Sign in</button></form>
<p id="status">signed-out</p>
<script>
document.getElementById("login").addEventListener("submit", async function (e) {
  e.preventDefault();
  var nonce = %q;
  var body = {username: document.getElementById("username").value, password: document.getElementById("password").value,
              nonce: nonce, proof: nonce.split("").reverse().join("")};
  var r = await fetch("/api/session", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  if (!r.ok) { document.getElementById("status").textContent = "denied: " + r.status; return; }
  var j = await r.json();
  document.cookie = %q + "=" + j.token + "; path=/";
  document.getElementById("status").textContent = "signed-in";
});
</script>
</body></html>
`, nonce, SessionCookie)}
}

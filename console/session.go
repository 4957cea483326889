package console

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/qs-promoter/qs-promoter/daemon"
)

// Sessions are signed cookies, not server-side state: any replica holding
// the same key (configured, or kept in the shared store) accepts them, and
// they survive a restart. The cookie names the user and when it expires,
// and carries a fingerprint of the user's password hash, so that changing
// a password (or removing the user) ends the user's sessions everywhere.

type sessions struct {
	key      []byte
	secure   bool // over TLS: Secure, and the __Host- prefix
	lifetime time.Duration
	now      func() time.Time
}

func newSessions(secret string, secure bool, lifetime time.Duration, now func() time.Time) *sessions {
	k := sha256.Sum256([]byte("qs-promoter console session\x00" + secret))
	return &sessions{key: k[:], secure: secure, lifetime: lifetime, now: now}
}

func (s *sessions) cookieName() string {
	if s.secure {
		return "__Host-qsp_session"
	}
	return "qsp_session"
}

// claims is what a session cookie says.
type claims struct {
	User    string `json:"u"`
	Expires int64  `json:"e"` // unix seconds
	Hash    string `json:"h"` // fingerprint of the password hash it was made with
}

func fingerprint(passwordHash string) string {
	h := sha256.Sum256([]byte(passwordHash))
	return hex.EncodeToString(h[:8])
}

func (s *sessions) sign(payload []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write(payload)
	return m.Sum(nil)
}

// issue sets the session cookie of a user who just logged in.
func (s *sessions) issue(w http.ResponseWriter, u daemon.ConsoleUser) {
	exp := s.now().Add(s.lifetime)
	payload, _ := json.Marshal(claims{User: u.Name, Expires: exp.Unix(), Hash: fingerprint(u.PasswordHash)})
	value := base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(s.sign(payload))
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: value, Path: "/", Expires: exp, MaxAge: int(s.lifetime.Seconds()),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode})
}

// clear ends the session in this browser.
func (s *sessions) clear(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode})
}

// user returns the user whose valid session the request carries.
func (s *sessions) user(r *http.Request, cfg *daemon.ConsoleConfig) (daemon.ConsoleUser, bool) {
	ck, err := r.Cookie(s.cookieName())
	if err != nil {
		return daemon.ConsoleUser{}, false
	}
	p64, sig64, ok := strings.Cut(ck.Value, ".")
	if !ok {
		return daemon.ConsoleUser{}, false
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p64)
	sig, err2 := base64.RawURLEncoding.DecodeString(sig64)
	if err1 != nil || err2 != nil || !hmac.Equal(sig, s.sign(payload)) {
		return daemon.ConsoleUser{}, false
	}
	var c claims
	if json.Unmarshal(payload, &c) != nil || s.now().Unix() >= c.Expires {
		return daemon.ConsoleUser{}, false
	}
	u, ok := cfg.User(c.User)
	if !ok || !hmac.Equal([]byte(fingerprint(u.PasswordHash)), []byte(c.Hash)) {
		return daemon.ConsoleUser{}, false
	}
	return u, true
}

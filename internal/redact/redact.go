// Package redact shows URLs, connection strings and errors without the secrets they may
// carry (passwords, tokens, pre-signed query strings). Connection strings are parsed with
// the parser of the driver that uses them and shown from what it parsed, so a form the
// driver accepts is never shown raw because a hand-written pattern missed it.
package redact

import (
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
)

// Placeholder replaces a query string, and stands for a string that could not be parsed
// (a parse error may quote it whole).
const Placeholder = "REDACTED"

// URL is u without user info (a NATS token or a password), query (pre-signed URLs sign
// there) or fragment; a query is shown as ?REDACTED so it is clear one was there.
func URL(u *url.URL) string {
	c := *u
	c.User = nil
	if c.RawQuery != "" || c.ForceQuery {
		c.RawQuery = Placeholder
	}
	c.Fragment, c.RawFragment = "", ""
	return c.String()
}

// RawURL is URL of a string; one that does not parse is shown as the placeholder.
func RawURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<" + Placeholder + " unparseable URL>"
	}
	return URL(u)
}

// URLList is RawURL of each comma-separated URL (NATS server lists).
func URLList(raw string) string {
	parts := strings.Split(raw, ",")
	for i, p := range parts {
		parts[i] = RawURL(strings.TrimSpace(p))
	}
	return strings.Join(parts, ",")
}

// URLHasCredentials reports whether a URL of the comma-separated list carries user info
// (for NATS a user alone is a token) or a password query parameter.
func URLHasCredentials(raw string) bool {
	for _, p := range strings.Split(raw, ",") {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil {
			// An unparseable URL cannot be shown; treat it as secret.
			return true
		}
		if u.User != nil || u.Query().Has("password") {
			return true
		}
	}
	return false
}

// Postgres shows a PostgreSQL connection string (URL or key=value) as
// postgres://user@host:port/database, from what pgconn parsed; every field that can hold
// a secret (password, sslpassword, sslkey, passfile) is left out.
func Postgres(dsn string) string {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return "<" + Placeholder + " unparseable PostgreSQL connection string>"
	}
	u := url.URL{Scheme: "postgres", Host: cfg.Host, Path: "/" + cfg.Database}
	if cfg.User != "" {
		u.User = url.User(cfg.User)
	}
	if cfg.Port != 0 && !strings.HasPrefix(cfg.Host, "/") {
		u.Host = net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	}
	return u.String()
}

// PostgresHasPassword reports whether dsn itself carries a password (as opposed to one
// PGPASSWORD or a passfile gives the driver).
func PostgresHasPassword(dsn string) bool {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return strings.Contains(dsn, "password") || strings.Contains(dsn, "@")
	}
	return cfg.Password != "" && (strings.Contains(dsn, cfg.Password) || strings.Contains(dsn, url.QueryEscape(cfg.Password)) || strings.Contains(dsn, url.PathEscape(cfg.Password)))
}

// PostgresError replaces an error of pgconn.ParseConfig (also returned by pgx.Connect and
// pgxpool.New), whose text quotes the connection string with a best-effort redaction that
// misses ?password=, by one that does not show it; other errors are returned as they are.
func PostgresError(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return errors.New("not a valid PostgreSQL URL or key=value connection string (not shown: it may hold a password)")
	}
	return err
}

// Mongo shows a MongoDB URI as scheme://user@hosts/database, from what the driver's own
// connection string parser read.
func Mongo(uri string) string {
	cs, err := connstring.Parse(uri)
	if err != nil {
		return "<" + Placeholder + " unparseable MongoDB URI>"
	}
	u := url.URL{Scheme: cs.Scheme, Host: strings.Join(cs.RawHosts, ","), Path: "/" + cs.Database}
	if cs.Username != "" {
		u.User = url.User(cs.Username)
	}
	return u.String()
}

// MongoHasPassword reports whether uri carries a password.
func MongoHasPassword(uri string) bool {
	cs, err := connstring.Parse(uri)
	if err != nil {
		return true
	}
	return cs.PasswordSet || cs.Password != ""
}

// Error rewrites the URL of every *url.Error in err's chain (net/http wraps every
// transport failure in one, quoting the whole URL: a pre-signed signature) and returns
// err. fmt.Errorf renders the text of what it wraps at once, so call Error on the error
// net/http returned, before wrapping it. It is the boundary every HTTP error passes before it may reach a log, a span or a
// dead letter.
func Error(err error) error {
	walk(err, func(e error) {
		if ue, ok := e.(*url.Error); ok {
			ue.URL = RawURL(ue.URL)
		}
	})
	return err
}

func walk(err error, f func(error)) {
	for err != nil {
		f(err)
		switch x := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range x.Unwrap() {
				walk(e, f)
			}
			return
		case interface{ Unwrap() error }:
			err = x.Unwrap()
		default:
			return
		}
	}
}

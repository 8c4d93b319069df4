package redact

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

const secret = "s3cr3t-Pa55"

func TestConnectionStringsHideTheirSecrets(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in string
		show     func(string) string
		want     string
	}{
		{"postgres url", "postgres://loader:" + secret + "@db:5432/sluice?sslmode=disable", Postgres, "postgres://loader@db:5432/sluice"},
		{"postgres url password param", "postgres://loader@db:5432/sluice?password=" + secret, Postgres, "postgres://loader@db:5432/sluice"},
		{"postgres key=value", "host=db port=5433 user=loader password=" + secret + " dbname=sluice sslmode=disable", Postgres, "postgres://loader@db:5433/sluice"},
		{"postgres key=value quoted", "host=db user=loader password='" + secret + " x' dbname=sluice", Postgres, "postgres://loader@db:5432/sluice"},
		{"postgres sslpassword", "host=db user=u dbname=d sslpassword=" + secret, Postgres, "postgres://u@db:5432/d"},
		{"postgres unparseable", "postgres://u:" + secret + "@db:notaport/x", Postgres, "<REDACTED unparseable PostgreSQL connection string>"},
		{"mongo", "mongodb://stager:" + secret + "@m1:27017,m2:27017/sluice?authSource=admin", Mongo, "mongodb://stager@m1:27017,m2:27017/sluice"},
		{"mongo password in option", "mongodb://m1:27017/?authMechanismProperties=AWS_SESSION_TOKEN:" + secret, Mongo, "mongodb://m1:27017/"},
		{"nats password", "nats://svc:" + secret + "@n1:4222,tls://n2:4222", URLList, "nats://n1:4222,tls://n2:4222"},
		{"nats token", "nats://" + secret + "@n1:4222", URLList, "nats://n1:4222"},
		{"presigned", "https://bucket.s3.amazonaws.com/r.json.gz?X-Amz-Signature=" + secret + "&X-Amz-Credential=AK", RawURL, "https://bucket.s3.amazonaws.com/r.json.gz?REDACTED"},
		{"unparseable url", "https://h/%zz?sig=" + secret, RawURL, "<REDACTED unparseable URL>"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := c.show(c.in)
			if got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
			if strings.Contains(got, secret) {
				t.Errorf("%q shows the secret", got)
			}
		})
	}
}

func TestHasPassword(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		has  func(string) bool
		want bool
	}{
		{"postgres://u:" + secret + "@db/x", PostgresHasPassword, true},
		{"postgres://u@db/x?password=" + secret, PostgresHasPassword, true},
		{"host=db user=u password=" + secret, PostgresHasPassword, true},
		{"host=db user=u dbname=x sslmode=disable", PostgresHasPassword, false},
		{"postgres://u@db:5432/x?sslmode=verify-full", PostgresHasPassword, false},
		{"mongodb://u:" + secret + "@m/", MongoHasPassword, true},
		{"mongodb://m:27017/", MongoHasPassword, false},
		{"nats://a:4222,nats://t0ken@b:4222", URLHasCredentials, true},
		{"nats://a:4222,tls://b:4222", URLHasCredentials, false},
	}
	for _, c := range cases {
		if got := c.has(c.in); got != c.want {
			t.Errorf("%s: got %v, want %v", strings.ReplaceAll(c.in, secret, "…"), got, c.want)
		}
	}
}

func TestErrorRewritesEveryURLError(t *testing.T) {
	t.Parallel()
	raw := "https://bucket.s3.amazonaws.com/r.json.gz?X-Amz-Signature=" + secret
	inner := &url.Error{Op: "Get", URL: raw, Err: errors.New("dial tcp: connection refused")}
	other := &url.Error{Op: "Get", URL: "http://u:" + secret + "@h/", Err: http.ErrHandlerTimeout}
	// fmt.Errorf renders its message when called, so Error must run where the
	// *url.Error is made, before any wrapping; errors.Join renders lazily.
	err := Error(errors.Join(inner, other))
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("error still shows the secret: %v", err)
	}
	var ue *url.Error
	if !errors.As(err, &ue) || ue.URL != "https://bucket.s3.amazonaws.com/r.json.gz?REDACTED" {
		t.Fatalf("url.Error lost or wrong: %v", err)
	}
	if Error(nil) != nil {
		t.Fatal("Error(nil) must stay nil")
	}
}

func TestPostgresErrorHidesTheString(t *testing.T) {
	t.Parallel()
	_, err := pgconn.ParseConfig("postgres://u@db:5432/x?password=" + secret + "&sslmode=nonsense")
	if err == nil {
		t.Fatal("want a parse error")
	}
	if msg := PostgresError(err).Error(); strings.Contains(msg, secret) {
		t.Fatalf("message shows the secret: %s", msg)
	}
}

package staging

import (
	"strings"
	"testing"
)

func TestConfigValidateTLSAndSecrets(t *testing.T) {
	t.Parallel()
	const pw = "m0ngo-Pa55"
	cases := []struct {
		uri, wantErr string
	}{
		{"mongodb://127.0.0.1:27017/", ""},
		{"mongodb://stager:" + pw + "@m1:27017,m2:27017/?tls=true&tlsCAFile=/etc/sluice/mongo/ca.crt&authSource=admin", ""},
		{"mongodb://stager:" + pw + "@m1:27017/?tls=true&tlsInsecure=true", "tlsInsecure=true does not verify"},
		{"mongodb://stager:" + pw + "@m1:27017/?w=bogus=x&%zz", "not a valid MongoDB URI"},
	}
	for _, c := range cases {
		err := Config{URI: c.uri, Database: "sluice", WriteConcern: "1"}.Validate()
		if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("%s: Validate() = %v, want %q", strings.ReplaceAll(c.uri, pw, "…"), err, c.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), pw) {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}

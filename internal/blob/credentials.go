package blob

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// credentialsName is what a credentials name may contain: it becomes part of an
// environment variable's name.
var credentialsName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,31}$`)

// CredentialsEnv returns the environment variables that hold the keys of the S3
// credentials named name: SLUICE_S3_<NAME>_ACCESS_KEY and SLUICE_S3_<NAME>_SECRET_KEY
// (each also as <VAR>_FILE, a file holding the value, as mounted Kubernetes secrets are).
// The empty name is the service's own pair, SLUICE_S3_ACCESS_KEY and SLUICE_S3_SECRET_KEY.
// Credentials of other accounts live in the environment only, never in flags or
// provider configuration, so they stay out of process listings and config maps.
func CredentialsEnv(name string) (access, secret string) {
	prefix := "SLUICE_S3_"
	if name != "" {
		prefix += strings.ToUpper(name) + "_"
	}
	return prefix + "ACCESS_KEY", prefix + "SECRET_KEY"
}

// ValidCredentialsName reports an error when name cannot name credentials.
func ValidCredentialsName(name string) error {
	if name != "" && !credentialsName.MatchString(name) {
		return fmt.Errorf("credentials %q: want a letter then letters, digits or '_' (at most 32)", name)
	}
	return nil
}

// LoadCredentials reads the keys of the credentials named name through getenv (see
// CredentialsEnv). Both keys empty means none are configured (the caller decides whether
// that is an error); one without the other is an error naming the missing variable.
func LoadCredentials(getenv func(string) string, name string) (accessKey, secretKey string, err error) {
	if err := ValidCredentialsName(name); err != nil {
		return "", "", err
	}
	av, sv := CredentialsEnv(name)
	if accessKey, err = envOrFile(getenv, av); err != nil {
		return "", "", err
	}
	if secretKey, err = envOrFile(getenv, sv); err != nil {
		return "", "", err
	}
	if (accessKey == "") != (secretKey == "") {
		return "", "", fmt.Errorf("credentials %q: %s and %s must be set together (or their _FILE variants)", name, av, sv)
	}
	return accessKey, secretKey, nil
}

func envOrFile(getenv func(string) string, name string) (string, error) {
	if v := getenv(name); v != "" {
		return v, nil
	}
	path := getenv(name + "_FILE")
	if path == "" {
		return "", nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", name, err)
	}
	return strings.TrimSpace(string(data)), nil
}

// Endpoint locates an S3 service and the keys to use there.
type Endpoint struct {
	// URL is the S3 endpoint; empty uses AWS's regional endpoints.
	URL       string
	Region    string
	AccessKey string
	SecretKey string
	// HTTP, when set, sends the requests (e.g. a provider's rate-governed client).
	HTTP *http.Client
}

// NewClient returns an S3 client for e: path-style addressing (S3-compatible servers)
// and checksums only where S3 requires them (their support differs between servers).
func NewClient(e Endpoint) *s3.Client {
	opts := s3.Options{Region: e.Region, UsePathStyle: true}
	if e.URL != "" {
		opts.BaseEndpoint = aws.String(e.URL)
	}
	if e.AccessKey != "" {
		opts.Credentials = credentials.NewStaticCredentialsProvider(e.AccessKey, e.SecretKey, "")
	}
	if e.HTTP != nil {
		opts.HTTPClient = e.HTTP
	}
	opts.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	opts.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	return s3.New(opts)
}

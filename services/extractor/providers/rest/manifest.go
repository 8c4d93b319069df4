package rest

import (
	"fmt"
	"strings"
)

// Manifest declares one HTTP API: where it is, how to authenticate, its rate limits and
// the streams to extract. Its JSON Schema is manifest.schema.json (see README.md).
type Manifest struct {
	Schema      string `json:"$schema,omitempty"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// BaseURL is the API's root; the provider configuration's base_url overrides it.
	BaseURL string `json:"base_url"`
	Auth    Auth   `json:"auth"`
	Limits  Limits `json:"limits"`
	Retry   Retry  `json:"retry,omitempty"`
	// Datasets are dataset spec files, relative to the manifest's folder.
	Datasets []string `json:"datasets"`
	Streams  []Stream `json:"streams"`
}

// Auth types.
const (
	AuthNone              = "none"
	AuthAPIKey            = "api_key"
	AuthBearer            = "bearer"
	AuthClientCredentials = "oauth2_client_credentials"
	AuthRefreshToken      = "oauth2_refresh_token"
)

// Auth says how requests are authenticated. Secrets are named, never written here.
type Auth struct {
	Type string `json:"type"`
	// In is where an API key goes: "header" (default) or "query"; Name is the header or
	// query parameter.
	In   string `json:"in,omitempty"`
	Name string `json:"name,omitempty"`
	// Secret holds the API key(s) or bearer token(s): several, separated by commas or
	// newlines, give several quotas used in parallel.
	Secret *Secret `json:"secret,omitempty"`
	// OAuth2: the token endpoint, the client's credentials, the refresh token
	// (oauth2_refresh_token) and the scopes requested.
	TokenURL     string   `json:"token_url,omitempty"`
	ClientID     *Secret  `json:"client_id,omitempty"`
	ClientSecret *Secret  `json:"client_secret,omitempty"`
	RefreshToken *Secret  `json:"refresh_token,omitempty"`
	Scopes       []string `json:"scopes,omitempty"`
}

// Secret names where a secret is read: an environment variable, or a file (for mounted
// Kubernetes secrets). When both are named, a set variable wins.
type Secret struct {
	Env  string `json:"env,omitempty"`
	File string `json:"file,omitempty"`
}

func (s *Secret) String() string {
	var parts []string
	if s.Env != "" {
		parts = append(parts, "env "+s.Env)
	}
	if s.File != "" {
		parts = append(parts, "file "+s.File)
	}
	return strings.Join(parts, " or ")
}

// Limits are the API's quotas, per API key (each key of Auth.Secret has its own).
type Limits struct {
	// Rate is requests per second per key, Burst the calls a key may make at once.
	Rate  float64 `json:"rate"`
	Burst int     `json:"burst,omitempty"`
	// Concurrency is the number of requests in flight per key (default 4).
	Concurrency int `json:"concurrency,omitempty"`
	// Fixed keeps the rate fixed instead of adapting to 429s.
	Fixed bool `json:"fixed,omitempty"`
}

// Retry tunes retries of one call (5xx, timeouts, 429).
type Retry struct {
	MaxAttempts    int    `json:"max_attempts,omitempty"`
	InitialBackoff string `json:"initial_backoff,omitempty"`
	MaxBackoff     string `json:"max_backoff,omitempty"`
}

// Stream is one list endpoint, walked page by page; each page is one raw record of each
// of the stream's datasets.
type Stream struct {
	Name string `json:"name"`
	// Datasets receive every page (e.g. hotels and their rooms from the same documents).
	Datasets    []string     `json:"datasets"`
	List        Request      `json:"list"`
	Pagination  Pagination   `json:"pagination"`
	Detail      *Detail      `json:"detail,omitempty"`
	Incremental *Incremental `json:"incremental,omitempty"`
}

// Request is an endpoint: a path under the base URL with query parameters, and where
// the records are in its JSON response.
type Request struct {
	Path string `json:"path"`
	// Params are query parameters; values may use {trigger.from}, {trigger.to} and
	// {trigger.params.NAME}. A parameter whose trigger value is absent is left out.
	Params map[string]string `json:"params,omitempty"`
	// Records is the dot path of the records array in the response ("" the body itself).
	Records string `json:"records,omitempty"`
}

// Pagination types.
const (
	PageNone   = "none"
	PageCursor = "cursor"
	PageNumber = "page"
	PageOffset = "offset"
	PageLink   = "link"
)

// Pagination says how the next page is requested.
type Pagination struct {
	Type string `json:"type"`
	// CursorPath (cursor) is the dot path of the next token in the body; a missing, null
	// or empty token ends the stream.
	CursorPath string `json:"cursor_path,omitempty"`
	// Param is the query parameter of the token (cursor), page number (page) or offset.
	Param string `json:"param,omitempty"`
	// SizeParam and PageSize request pages of a size; a shorter page ends page and
	// offset pagination.
	SizeParam string `json:"size_param,omitempty"`
	PageSize  int    `json:"page_size,omitempty"`
	// Start is the first page number (page; default 1).
	Start *int `json:"start,omitempty"`
}

// Detail fetches one document per list record (GET /hotels/{id}); the page's record is
// then the array of these documents.
type Detail struct {
	// Path with {id}, replaced by the record's ID field (URL-escaped).
	Path string `json:"path"`
	// ID is the dot path of the id in a list record.
	ID string `json:"id"`
	// Records is the dot path of the document in the response ("" the body).
	Records string `json:"records,omitempty"`
}

// Incremental syncs only records changed since the last run: the largest CursorField
// seen is saved in the checkpoints when a run of the stream ends, and the next run sends
// it as Param. Values compare as numbers when both are numbers, else as strings (use
// RFC 3339 UTC times or zero-padded numbers).
type Incremental struct {
	CursorField string `json:"cursor_field"`
	Param       string `json:"param"`
	// Start is the lower bound of the first run (empty: the parameter is not sent).
	Start string `json:"start,omitempty"`
}

func (m *Manifest) stream(name string) (*Stream, error) {
	for i := range m.Streams {
		if m.Streams[i].Name == name {
			return &m.Streams[i], nil
		}
	}
	return nil, fmt.Errorf("%s: no stream %q", m.Name, name)
}

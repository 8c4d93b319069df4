package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"

	"sigs.k8s.io/yaml"

	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/schemas"
)

// ManifestFile is the name of a manifest in its provider folder.
const ManifestFile = "manifest.yaml"

// API is a loaded manifest folder: the manifest and its dataset specs.
type API struct {
	Manifest *Manifest
	Datasets []*spec.Spec
}

// ParseManifest decodes a YAML (or JSON) manifest and validates it against the schema
// and the rules a schema cannot say; every error names the JSON path of the bad field.
func ParseManifest(data []byte) (*Manifest, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if err := schemas.ValidateRestManifest(js); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields() // the schema already refuses them; this keeps the two in step
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return &m, nil
}

// FieldError is a manifest error at a JSON path such as /streams/0/pagination/type (the
// schema's errors name their paths the same way).
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return "manifest: " + e.Msg
	}
	return "manifest: /" + e.Path + ": " + e.Msg
}

// check enforces what the schema cannot: unique names, consistent fields.
func (m *Manifest) check() error {
	var errs []error
	bad := func(p, format string, args ...any) {
		errs = append(errs, &FieldError{Path: p, Msg: fmt.Sprintf(format, args...)})
	}
	streams := map[string]bool{}
	for i, s := range m.Streams {
		p := fmt.Sprintf("streams/%d", i)
		if streams[s.Name] {
			bad(p+"/name", "stream %q is declared twice", s.Name)
		}
		streams[s.Name] = true
		pg := s.Pagination
		if pg.Type == PageNone || pg.Type == PageLink {
			if pg.Param != "" || pg.CursorPath != "" {
				bad(p+"/pagination", "%s pagination takes no param or cursor_path", pg.Type)
			}
		}
		if pg.SizeParam != "" && pg.PageSize == 0 {
			bad(p+"/pagination/page_size", "required with size_param")
		}
		if pg.Start != nil && pg.Type != PageNumber {
			bad(p+"/pagination/start", "only page pagination has a start page")
		}
		if pg.Type != PageCursor && pg.CursorPath != "" {
			bad(p+"/pagination/cursor_path", "only cursor pagination reads a cursor from the body")
		}
		if _, ok := s.List.Params[pg.Param]; ok && pg.Param != "" {
			bad(p+"/list/params/"+pg.Param, "is set by the pagination")
		}
		if s.Incremental != nil {
			if _, ok := s.List.Params[s.Incremental.Param]; ok {
				bad(p+"/list/params/"+s.Incremental.Param, "is set by the incremental sync")
			}
		}
		for k, v := range s.List.Params {
			if err := checkTemplate(v); err != nil {
				bad(p+"/list/params/"+k, "%v", err)
			}
		}
	}
	a := m.Auth
	if a.Type != AuthAPIKey && (a.In != "" || a.Name != "") {
		bad("auth", "in and name apply to api_key auth only")
	}
	if (a.Type == AuthNone || a.Type == AuthClientCredentials || a.Type == AuthRefreshToken) && a.Secret != nil {
		bad("auth/secret", "%s auth takes no secret (oauth2 uses client_id, client_secret, refresh_token)", a.Type)
	}
	return errors.Join(errs...)
}

// LoadFolder loads the provider folder dir of fsys: its manifest and dataset specs.
func LoadFolder(fsys fs.FS, dir string) (*API, error) {
	data, err := fs.ReadFile(fsys, path.Join(dir, ManifestFile))
	if err != nil {
		return nil, err
	}
	m, err := ParseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path.Join(dir, ManifestFile), err)
	}
	if m.Name != path.Base(dir) {
		return nil, fmt.Errorf("%s: %w", path.Join(dir, ManifestFile), &FieldError{Path: "name", Msg: fmt.Sprintf("%q must equal the folder name %q", m.Name, path.Base(dir))})
	}
	api := &API{Manifest: m}
	have := map[string]bool{}
	for i, f := range m.Datasets {
		data, err := fs.ReadFile(fsys, path.Join(dir, f))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path.Join(dir, ManifestFile), &FieldError{Path: fmt.Sprintf("datasets/%d", i), Msg: err.Error()})
		}
		sp, err := spec.Parse(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path.Join(dir, f), err)
		}
		if sp.Provider != m.Name {
			return nil, fmt.Errorf("%s: provider %q, want %q", path.Join(dir, f), sp.Provider, m.Name)
		}
		have[sp.Dataset] = true
		api.Datasets = append(api.Datasets, sp)
	}
	for i, s := range m.Streams {
		for j, d := range s.Datasets {
			if !have[d] {
				return nil, fmt.Errorf("%s: %w", path.Join(dir, ManifestFile), &FieldError{Path: fmt.Sprintf("streams/%d/datasets/%d", i, j), Msg: fmt.Sprintf("dataset %q has no spec among datasets", d)})
			}
		}
	}
	return api, nil
}

// Discover loads every folder of fsys (one level deep) that holds a manifest.yaml, in
// name order.
func Discover(fsys fs.FS) ([]*API, error) {
	matches, err := fs.Glob(fsys, "*/"+ManifestFile)
	if err != nil {
		return nil, err
	}
	sort.Strings(matches)
	var out []*API
	for _, mf := range matches {
		api, err := LoadFolder(fsys, path.Dir(mf))
		if err != nil {
			return nil, err
		}
		out = append(out, api)
	}
	return out, nil
}

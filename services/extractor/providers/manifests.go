// Package providers holds the provider folders. Folders with a manifest.yaml are
// declarative HTTP APIs run by the rest provider: Folders embeds them, so adding such an
// API is adding a folder (see rest/README.md), no Go code.
package providers

import "embed"

// Folders holds every provider folder's manifest and dataset specs.
//
//go:embed */manifest.yaml */datasets/*.json
var Folders embed.FS

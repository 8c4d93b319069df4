package sim

import (
	"net/http"
	"slices"
	"strings"
)

// handleProfiles is GET /v2/profiles. It honours profileTypeFilter
// (comma-separated seller, vendor, agency).
func (s *Server) handleProfiles(w http.ResponseWriter, r *http.Request) {
	w, _, ok := s.guard(w, r, ClassProfiles, false)
	if !ok {
		return
	}
	out := s.profiles
	if f := r.URL.Query().Get("profileTypeFilter"); f != "" {
		types := strings.Split(f, ",")
		out = slices.DeleteFunc(slices.Clone(out), func(p Profile) bool {
			return !slices.Contains(types, p.AccountInfo.Type)
		})
	}
	writeJSON(w, http.StatusOK, out)
}

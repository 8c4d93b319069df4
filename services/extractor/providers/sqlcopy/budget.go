package sqlcopy

import (
	"os"
	"strconv"
	"strings"
)

// cgroupMemoryMax is where cgroup v2 publishes the container's memory limit.
const cgroupMemoryMax = "/sys/fs/cgroup/memory.max"

// Bounds of a page's NDJSON bytes when derived from the memory limit.
const (
	minPageBytes     = 1 << 20
	maxPageBytes     = 64 << 20
	defaultPageBytes = 4 << 20 // no limit known
)

// memoryLimit reads a cgroup v2 memory.max file: the limit in bytes, or 0 when there is
// none ("max") or it cannot be read.
func memoryLimit(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// pageBudget is the most NDJSON bytes one page may hold: the configured value, or the
// share of the memory limit of one of the pages held at once. A page is held compressed,
// but the emitter and the claim-check upload hold buffers of their own, so the budget
// counts uncompressed bytes to stay on the safe side.
func pageBudget(p Page, limit int64) int64 {
	if p.MemoryBytes > 0 {
		return p.MemoryBytes
	}
	if limit <= 0 {
		return defaultPageBytes
	}
	b := int64(float64(limit) * p.MemoryFraction / float64(p.InMemory))
	return min(max(b, minPageBytes), maxPageBytes)
}

// pageRows sizes the pages after the probe: as many rows as fit the budget at twice the
// mean width seen (the byte cap ends a page early if wider rows come), within [1, maxRows].
func pageRows(budget, probeBytes int64, probeRows, maxRows int) int {
	if probeRows == 0 || probeBytes == 0 {
		return maxRows
	}
	width := 2 * probeBytes / int64(probeRows)
	n := budget / max(width, 1)
	return int(min(max(n, 1), int64(maxRows)))
}

package sim

import (
	"hash/fnv"
	"math"
)

// The data generator uses its own hashing instead of math/rand so that the
// rows for a seed never change with the Go version.

// splitmix64 is the finaliser of the SplitMix64 generator: a bijective,
// well-mixing function of a 64-bit value.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// mix hashes a sequence of values into one.
func mix(parts ...uint64) uint64 {
	h := uint64(0x243f6a8885a308d3)
	for _, p := range parts {
		h = splitmix64(h ^ p)
	}
	return h
}

// hashString is FNV-1a 64 of s, to mix strings into seeds.
func hashString(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// stream is a small deterministic generator (SplitMix64).
type stream struct{ state uint64 }

func newStream(seed uint64) *stream { return &stream{state: seed} }

func (s *stream) next() uint64 {
	s.state += 0x9e3779b97f4a7c15
	z := s.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// float returns a value in [0,1).
func (s *stream) float() float64 { return float64(s.next()>>11) / (1 << 53) }

// intn returns a value in [0,n); n must be > 0.
func (s *stream) intn(n int64) int64 { return int64(s.next() % uint64(n)) }

// between returns a value in [lo,hi].
func (s *stream) between(lo, hi int64) int64 { return lo + s.intn(hi-lo+1) }

// logUniform returns a value in [lo,hi) distributed uniformly in log space.
func (s *stream) logUniform(lo, hi float64) float64 {
	return math.Exp(math.Log(lo) + s.float()*(math.Log(hi)-math.Log(lo)))
}

// normal returns a standard normal value (Box-Muller).
func (s *stream) normal() float64 {
	u1 := 1 - s.float() // (0,1]
	u2 := s.float()
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
}

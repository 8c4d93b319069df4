package transform

// slabSize is how many values of one kind are allocated at once. Rows of a batch live and
// die together, so sharing an allocation among neighbouring rows keeps nothing alive for
// long, and it saves one allocation per value.
const slabSize = 256

// slab hands out pointers to zero values of T taken from larger allocations.
type slab[T any] struct{ free []T }

func (s *slab[T]) new() *T {
	if len(s.free) == 0 {
		s.free = make([]T, slabSize)
	}
	p := &s.free[0]
	s.free = s.free[1:]
	return p
}

// ptrSlab hands out slices of n pointers taken from larger allocations.
type ptrSlab[T any] struct{ free []*T }

func (s *ptrSlab[T]) take(n int) []*T {
	if len(s.free) < n {
		s.free = make([]*T, max(n, slabSize))
	}
	p := s.free[:n:n]
	s.free = s.free[n:]
	return p
}

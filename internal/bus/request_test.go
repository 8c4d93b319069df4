package bus

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestRequest(t *testing.T) {
	defer func(d time.Duration) { requestTimeout = d }(requestTimeout)
	requestTimeout = 50 * time.Millisecond
	refused := errors.New("refused")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	far, cancelFar := context.WithTimeout(context.Background(), time.Hour)
	defer cancelFar()
	for _, tc := range []struct {
		name        string
		ctx         context.Context
		do          func(context.Context) (int, error)
		want        int
		wantErr     error
		wantTimeout bool
	}{
		{"answered", far, func(context.Context) (int, error) { return 7, nil }, 7, nil, false},
		{"refused", far, func(context.Context) (int, error) { return 0, refused }, 0, refused, false},
		{"bounded under a far deadline", far, func(ctx context.Context) (int, error) {
			dl, ok := ctx.Deadline()
			if !ok || time.Until(dl) > requestTimeout {
				return 0, errors.New("not bounded")
			}
			return 1, nil
		}, 1, nil, false},
		{"no reply within the bound", far, func(ctx context.Context) (int, error) {
			if ctx.Err() != nil {
				return 0, errors.New("already ended")
			}
			<-ctx.Done()
			return 0, ctx.Err()
		}, 0, context.DeadlineExceeded, true},
		{"the caller's own end is not a bus timeout", cancelled, func(ctx context.Context) (int, error) { return 0, ctx.Err() }, 0, context.Canceled, false},
	} {
		got, err := Request(tc.ctx, tc.do)
		if got != tc.want || !errors.Is(err, tc.wantErr) || errors.Is(err, nats.ErrTimeout) != tc.wantTimeout {
			t.Errorf("%s: Request = %d, %v; want %d, %v (bus timeout %v)", tc.name, got, err, tc.want, tc.wantErr, tc.wantTimeout)
		}
	}
}

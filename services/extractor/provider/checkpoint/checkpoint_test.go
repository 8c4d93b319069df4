package checkpoint_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/servicetest"
	"github.com/sluice-dev/sluice/services/extractor/provider/checkpoint"
)

type cursor struct {
	LastKey int64  `json:"last_key"`
	Page    string `json:"page"`
}

func TestSaveLoadConflictClaim(t *testing.T) {
	_, js := servicetest.JetStream(t)
	ctx := context.Background()
	kv, _ := js.KeyValue(ctx, bus.BucketCheckpoints)
	s, err := checkpoint.New(kv, "sqlbackfill")
	if err != nil {
		t.Fatal(err)
	}
	key := s.Key("orders", "part 3")
	if key != "sqlbackfill.orders.part_3" {
		t.Errorf("key = %s", key)
	}
	c, err := checkpoint.Load[cursor](ctx, s, key)
	if err != nil || c.Found {
		t.Fatalf("fresh: %+v, %v", c, err)
	}
	c.Value = cursor{LastKey: 100}
	if c, err = checkpoint.Save(ctx, s, c); err != nil {
		t.Fatal(err)
	}
	stale := c
	c.Value.LastKey = 200
	if c, err = checkpoint.Save(ctx, s, c); err != nil {
		t.Fatal(err)
	}
	stale.Value.LastKey = 150
	if _, err := checkpoint.Save(ctx, s, stale); !errors.Is(err, checkpoint.ErrConflict) {
		t.Errorf("stale save: %v, want ErrConflict", err)
	}
	got, err := checkpoint.Load[cursor](ctx, s, key)
	if err != nil || got.Value.LastKey != 200 {
		t.Errorf("load: %+v, %v", got, err)
	}
	first, err := s.Claim(ctx, s.Key("slot"), "x")
	second, err2 := s.Claim(ctx, s.Key("slot"), "y")
	if !first || second || err != nil || err2 != nil {
		t.Errorf("claims: %v %v (%v, %v), want true false", first, second, err, err2)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
}

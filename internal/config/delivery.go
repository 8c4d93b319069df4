package config

import (
	"errors"
	"fmt"
	"time"
)

// Delivery is how a service's durable consumer delivers and redelivers messages.
type Delivery struct {
	// MaxAckPending bounds messages delivered and not yet acked: the backpressure.
	MaxAckPending int
	// MaxDeliver is how many times a message is tried before it goes to the DLQ.
	MaxDeliver int
	// AckWait is how long a delivered message may stay unacked before redelivery.
	AckWait time.Duration
}

// Register defines --max-ack-pending, --max-deliver and --ack-wait with the service's
// defaults; what names the service's messages in the help ("records", "row batches").
func (d *Delivery) Register(fs *FlagSet, def Delivery, what string) {
	fs.IntVar(&d.MaxAckPending, "max-ack-pending", "SLUICE_MAX_ACK_PENDING", def.MaxAckPending, what+" delivered but not yet acked")
	fs.IntVar(&d.MaxDeliver, "max-deliver", "SLUICE_MAX_DELIVER", def.MaxDeliver, "deliveries before one of the "+what+" goes to the DLQ")
	fs.DurationVar(&d.AckWait, "ack-wait", "SLUICE_ACK_WAIT", def.AckWait, "redelivery timeout of unacked "+what)
}

// Validate names the wrong flag; inFlight is how many messages the service holds at once
// (its batch size or workers), which MaxAckPending must allow.
func (d Delivery) Validate(inFlight int, inFlightFlag string) error {
	var errs []error
	if d.MaxAckPending < inFlight {
		errs = append(errs, fmt.Errorf("--max-ack-pending / SLUICE_MAX_ACK_PENDING %d must be at least %s %d", d.MaxAckPending, inFlightFlag, inFlight))
	}
	if d.MaxDeliver < 1 {
		errs = append(errs, fmt.Errorf("--max-deliver / SLUICE_MAX_DELIVER %d: must be at least 1", d.MaxDeliver))
	}
	if d.AckWait < time.Second {
		errs = append(errs, fmt.Errorf("--ack-wait / SLUICE_ACK_WAIT %v: must be at least 1s", d.AckWait))
	}
	return errors.Join(errs...)
}

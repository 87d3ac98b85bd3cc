package reporter

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/statusagg/statusagg/clients/go/statusaggv1"
)

// Limits says how calls are split into messages and retried. The zero value of a field means
// its default (DefaultLimits).
type Limits struct {
	MaxItems       int           // items per message
	MaxBytes       int           // encoded bytes per message; under the service's --max-message-bytes
	Attempts       int           // per call, for the codes Retried reports
	InitialBackoff time.Duration // the first wait between attempts, doubled each time
	MaxBackoff     time.Duration
	Timeout        time.Duration // per message; a chunked Sync gets it per chunk
}

// DefaultLimits: 500 items or 4 MiB per message (what any deployment takes), five attempts.
var DefaultLimits = Limits{
	MaxItems:       500,
	MaxBytes:       4 << 20,
	Attempts:       5,
	InitialBackoff: 100 * time.Millisecond,
	MaxBackoff:     10 * time.Second,
	Timeout:        time.Minute,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.MaxItems > 0 {
		d.MaxItems = l.MaxItems
	}
	if l.MaxBytes > 0 {
		d.MaxBytes = l.MaxBytes
	}
	if l.Attempts > 0 {
		d.Attempts = l.Attempts
	}
	if l.InitialBackoff > 0 {
		d.InitialBackoff = l.InitialBackoff
	}
	if l.MaxBackoff > 0 {
		d.MaxBackoff = l.MaxBackoff
	}
	if l.Timeout > 0 {
		d.Timeout = l.Timeout
	}
	return d
}

// Retried reports whether a call that failed with err is worth another attempt: the service
// (or the connection to it) is away for a moment, or a newer Sync of the cluster superseded it.
func Retried(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted:
		return true
	}
	return false
}

// Answer is the service's epoch and one result per item, in order.
type Answer struct {
	Epoch   string
	Results []*pb.ItemResult
}

// Client calls StatusAggregator. Epoch is the service epoch of the last answer: when it
// changes, the service lost what it held and the cluster must be sent again with Sync.
type Client struct {
	stub   pb.StatusAggregatorClient
	token  string
	Limits Limits

	mu    sync.Mutex
	epoch string
}

// NewClient is a client on conn (see Dial), sending token as a bearer token if not empty.
func NewClient(conn grpc.ClientConnInterface, token string, limits Limits) *Client {
	return &Client{stub: pb.NewStatusAggregatorClient(conn), token: token, Limits: limits.withDefaults()}
}

// Epoch is the service epoch of the last answer.
func (c *Client) Epoch() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

func (c *Client) observe(epoch string) {
	c.mu.Lock()
	c.epoch = epoch
	c.mu.Unlock()
}

func (c *Client) context(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if c.token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.token)
	}
	return context.WithTimeout(ctx, timeout)
}

// retry runs call until it succeeds, fails with a code Retried rejects, or the attempts are
// spent, waiting between attempts with exponential backoff and jitter.
func (c *Client) retry(ctx context.Context, call func() error) error {
	wait := c.Limits.InitialBackoff
	for attempt := 1; ; attempt++ {
		err := call()
		if err == nil || !Retried(err) || attempt >= c.Limits.Attempts {
			return err
		}
		jittered := wait/2 + rand.N(wait/2+1)
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(jittered):
		}
		wait = min(wait*2, c.Limits.MaxBackoff)
	}
}

// Report sends items (updates and removals) in as many messages as the limits need.
func (c *Client) Report(ctx context.Context, items []*pb.MemberStatus) (Answer, error) {
	var results []*pb.ItemResult
	for _, batch := range Batches(items, c.Limits.MaxItems, c.Limits.MaxBytes) {
		var reply *pb.ReportResponse
		err := c.retry(ctx, func() error {
			callCtx, cancel := c.context(ctx, c.Limits.Timeout)
			defer cancel()
			var err error
			reply, err = c.stub.Report(callCtx, &pb.ReportRequest{Items: batch})
			return err
		})
		if err != nil {
			return Answer{Epoch: c.Epoch(), Results: results}, err
		}
		c.observe(reply.Epoch)
		results = append(results, reply.Results...)
	}
	return Answer{Epoch: c.Epoch(), Results: results}, nil
}

// Heartbeat sends an empty Report and returns the service's epoch, which tells whether it
// restarted.
func (c *Client) Heartbeat(ctx context.Context) (string, error) {
	var reply *pb.ReportResponse
	err := c.retry(ctx, func() error {
		callCtx, cancel := c.context(ctx, c.Limits.Timeout)
		defer cancel()
		var err error
		reply, err = c.stub.Report(callCtx, &pb.ReportRequest{})
		return err
	})
	if err != nil {
		return "", err
	}
	c.observe(reply.Epoch)
	return reply.Epoch, nil
}

// Sync makes items the complete state of cluster: the service drops what it holds of the
// cluster beyond them.
//
// Items that fit Limits.MaxBytes together go in one Sync message; more are sent as a chunked
// Sync (SyncChunks, chunks bounded by MaxItems and MaxBytes), which the service applies only
// once the last chunk arrived. A service without SyncChunks gets one Sync message.
func (c *Client) Sync(ctx context.Context, cluster string, items []*pb.MemberStatus) (Answer, error) {
	size := messageOverhead
	for _, item := range items {
		size += encodedSize(item)
	}
	chunks := Batches(items, c.Limits.MaxItems, c.Limits.MaxBytes)
	if len(chunks) == 0 {
		chunks = [][]*pb.MemberStatus{nil}
	}
	timeout := c.Limits.Timeout * time.Duration(len(chunks))
	whole := func() (reply *pb.ReportResponse, err error) {
		err = c.retry(ctx, func() error {
			callCtx, cancel := c.context(ctx, timeout)
			defer cancel()
			reply, err = c.stub.Sync(callCtx, &pb.SyncRequest{Cluster: cluster, Items: items})
			return err
		})
		return reply, err
	}
	var reply *pb.ReportResponse
	var err error
	if size <= c.Limits.MaxBytes {
		reply, err = whole()
	} else {
		err = c.retry(ctx, func() error {
			callCtx, cancel := c.context(ctx, timeout)
			defer cancel()
			var err error
			reply, err = c.syncChunks(callCtx, cluster, chunks)
			return err
		})
		if status.Code(err) == codes.Unimplemented {
			reply, err = whole()
		}
	}
	if err != nil {
		return Answer{Epoch: c.Epoch()}, err
	}
	c.observe(reply.Epoch)
	return Answer{Epoch: reply.Epoch, Results: reply.Results}, nil
}

func (c *Client) syncChunks(ctx context.Context, cluster string, chunks [][]*pb.MemberStatus) (*pb.ReportResponse, error) {
	stream, err := c.stub.SyncChunks(ctx)
	if err != nil {
		return nil, err
	}
	for i, chunk := range chunks {
		message := &pb.SyncChunk{Items: chunk, Last: i == len(chunks)-1}
		if i == 0 {
			message.Cluster = cluster
		}
		if err := stream.Send(message); err != nil {
			// the service ended the call: its status is the error that matters
			_, err = stream.CloseAndRecv()
			return nil, err
		}
	}
	return stream.CloseAndRecv()
}

// GetAggregate returns what the service holds for resource (NOT_FOUND if no member reported
// it).
func (c *Client) GetAggregate(ctx context.Context, resource *pb.ResourceRef) (*pb.GetAggregateResponse, error) {
	var reply *pb.GetAggregateResponse
	err := c.retry(ctx, func() error {
		callCtx, cancel := c.context(ctx, c.Limits.Timeout)
		defer cancel()
		var err error
		reply, err = c.stub.GetAggregate(callCtx, &pb.GetAggregateRequest{Resource: resource})
		return err
	})
	return reply, err
}

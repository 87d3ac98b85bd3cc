package reporter

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/statusagg/statusagg/clients/go/statusaggv1"
)

// key identifies one object of a cluster: apiVersion, kind, namespace, name.
type key [4]string

func keyOf(item *pb.MemberStatus) key {
	r := item.GetResource()
	return key{r.GetApiVersion(), r.GetKind(), r.GetNamespace(), r.GetName()}
}

// Options of a Reporter; zero values mean the defaults.
type Options struct {
	FlushInterval time.Duration // pause after waking up, so close changes go in one batch (50ms)
	Heartbeat     time.Duration // an empty Report after this long without a call (5s)
	MaxBackoff    time.Duration // the longest wait between failed attempts (10s)
	Logger        *slog.Logger  // slog.Default() if nil
}

// Reporter runs one cluster's reporting session through a Client: a Sync at start and
// whenever the service's epoch changes, then the changes offered, in batches, each item
// stamped with a sequence. While the service is away it keeps only the latest item per
// object, so memory stays bounded however long the outage.
type Reporter struct {
	client   *Client
	cluster  string
	snapshot func() []*pb.MemberStatus
	options  Options

	mu        sync.Mutex
	pending   map[key]*pb.MemberStatus
	order     []key // pending keys, oldest first (some may have left pending)
	sent      map[key]*pb.MemberStatus
	sequence  uint64
	epoch     string
	needsSync bool
	wake      chan struct{}
	quiet     chan struct{} // closed while nothing is pending or on the wire
	synced    chan struct{}
	syncOnce  sync.Once
}

// New is a reporter of cluster; snapshot returns an item for every object the cluster holds
// now (for Sync).
func New(client *Client, cluster string, snapshot func() []*pb.MemberStatus, options Options) *Reporter {
	if options.FlushInterval <= 0 {
		options.FlushInterval = 50 * time.Millisecond
	}
	if options.Heartbeat <= 0 {
		options.Heartbeat = 5 * time.Second
	}
	if options.MaxBackoff <= 0 {
		options.MaxBackoff = 10 * time.Second
	}
	if options.Logger == nil {
		options.Logger = slog.Default()
	}
	return &Reporter{
		client:   client,
		cluster:  cluster,
		snapshot: snapshot,
		options:  options,
		pending:  map[key]*pb.MemberStatus{},
		sent:     map[key]*pb.MemberStatus{},
		// sequences start from the clock, so a new process always counts above its
		// predecessor: a late report of the old process is then stale, not an overwrite
		sequence:  uint64(time.Now().UnixMicro()),
		needsSync: true,
		wake:      make(chan struct{}, 1),
		quiet:     make(chan struct{}),
		synced:    make(chan struct{}),
	}
}

// Synced is closed once the first Sync was answered.
func (r *Reporter) Synced() <-chan struct{} { return r.synced }

// Epoch is the service epoch the reporter last saw.
func (r *Reporter) Epoch() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.epoch
}

// Pending is how many items wait to be sent.
func (r *Reporter) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

func unsequenced(item *pb.MemberStatus) *pb.MemberStatus {
	copied := proto.Clone(item).(*pb.MemberStatus)
	copied.Sequence = 0
	return copied
}

// busy marks that something waits to be sent; call with mu held.
func (r *Reporter) busy() {
	select {
	case <-r.quiet:
		r.quiet = make(chan struct{})
	default:
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Offer queues item unless it repeats what was last sent (or is being sent) for its object.
func (r *Reporter) Offer(item *pb.MemberStatus) {
	k := keyOf(item)
	r.mu.Lock()
	defer r.mu.Unlock()
	_, queued := r.pending[k]
	if last, ok := r.sent[k]; ok && !queued && proto.Equal(last, unsequenced(item)) {
		return
	}
	if !queued {
		r.order = append(r.order, k)
	}
	r.pending[k] = item
	r.busy()
}

// Remove queues the removal of an object that left the cluster.
func (r *Reporter) Remove(apiVersion, kind, namespace, name string) {
	r.Offer(&pb.MemberStatus{
		Cluster:  r.cluster,
		Resource: &pb.ResourceRef{ApiVersion: apiVersion, Kind: kind, Namespace: namespace, Name: name},
		Removed:  true,
	})
}

// Resync sends the whole cluster again with the next call (as after an epoch change).
func (r *Reporter) Resync() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.needsSync = true
	r.busy()
}

// Flush waits until everything offered was answered (Run must be running).
func (r *Reporter) Flush(ctx context.Context) error {
	r.mu.Lock()
	quiet := r.quiet
	r.mu.Unlock()
	select {
	case <-quiet:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stamp copies items with the next sequences; call with mu held.
func (r *Reporter) stamp(items []*pb.MemberStatus) []*pb.MemberStatus {
	stamped := make([]*pb.MemberStatus, len(items))
	for i, item := range items {
		r.sequence++
		stamped[i] = proto.Clone(item).(*pb.MemberStatus)
		stamped[i].Sequence = r.sequence
	}
	return stamped
}

func (r *Reporter) observeEpoch(epoch string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.epoch != "" && epoch != r.epoch {
		r.options.Logger.Info("service epoch changed: resyncing", "from", r.epoch, "to", epoch)
		r.needsSync = true
	}
	r.epoch = epoch
}

func (r *Reporter) logRejected(answer Answer, items []*pb.MemberStatus) {
	for i, result := range answer.Results {
		if i < len(items) && result.GetOutcome() == pb.ItemResult_OUTCOME_REJECTED {
			k := keyOf(items[i])
			r.options.Logger.Warn("item rejected", "kind", k[1], "namespace", k[2], "name", k[3], "reason", result.GetReason())
		}
	}
}

func (r *Reporter) sync(ctx context.Context) error {
	r.mu.Lock()
	covered := make(map[key]*pb.MemberStatus, len(r.pending))
	for k, item := range r.pending {
		covered[k] = item // the snapshot includes (or, for removals, omits) these
	}
	r.mu.Unlock()
	snapshot := r.snapshot()
	r.mu.Lock()
	items := r.stamp(snapshot)
	r.mu.Unlock()
	answer, err := r.client.Sync(ctx, r.cluster, items)
	if err != nil {
		return err
	}
	r.logRejected(answer, items)
	r.mu.Lock()
	r.epoch = answer.Epoch
	r.needsSync = false
	r.sent = make(map[key]*pb.MemberStatus, len(items))
	for _, item := range items {
		r.sent[keyOf(item)] = unsequenced(item)
	}
	for k, item := range covered {
		if r.pending[k] == item {
			delete(r.pending, k)
		}
	}
	r.mu.Unlock()
	r.syncOnce.Do(func() { close(r.synced) })
	return nil
}

// nextBatch takes the oldest pending items that fit one message; call with mu held.
func (r *Reporter) nextBatch() ([]key, []*pb.MemberStatus) {
	limits := r.client.Limits
	var keys []key
	var batch []*pb.MemberStatus
	size := messageOverhead
	rest := r.order[:0]
	for i, k := range r.order {
		item, ok := r.pending[k]
		if !ok {
			continue
		}
		size += encodedSize(item)
		if len(batch) > 0 && (len(batch) >= limits.MaxItems || size > limits.MaxBytes) {
			rest = append(rest, r.order[i:]...)
			break
		}
		keys = append(keys, k)
		batch = append(batch, item)
		delete(r.pending, k)
	}
	r.order = rest
	return keys, batch
}

func (r *Reporter) sendBatch(ctx context.Context) error {
	r.mu.Lock()
	keys, batch := r.nextBatch()
	items := r.stamp(batch)
	// before the call: a change back to the last value sent, arriving while this batch is on
	// the wire, must not be skipped as a repeat (on failure the batch is pending again)
	for i, k := range keys {
		if batch[i].GetRemoved() {
			delete(r.sent, k)
		} else {
			r.sent[k] = unsequenced(batch[i])
		}
	}
	r.mu.Unlock()
	answer, err := r.client.Report(ctx, items)
	if err != nil {
		r.mu.Lock()
		for i, k := range keys {
			if _, newer := r.pending[k]; !newer {
				r.pending[k] = batch[i]
				r.order = append(r.order, k)
			}
		}
		r.mu.Unlock()
		return err
	}
	r.observeEpoch(answer.Epoch)
	r.logRejected(answer, items)
	return nil
}

func (r *Reporter) idle(ctx context.Context) error {
	timer := time.NewTimer(r.options.Heartbeat)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-r.wake:
	case <-timer.C:
		epoch, err := r.client.Heartbeat(ctx)
		if err != nil {
			return err
		}
		r.observeEpoch(epoch)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(r.options.FlushInterval):
		return nil
	}
}

func (r *Reporter) step(ctx context.Context) error {
	r.mu.Lock()
	needsSync, pending := r.needsSync, len(r.pending) > 0
	r.mu.Unlock()
	var err error
	switch {
	case needsSync:
		err = r.sync(ctx)
	case pending:
		err = r.sendBatch(ctx)
	default:
		err = r.idle(ctx)
	}
	r.mu.Lock()
	if len(r.pending) == 0 && !r.needsSync {
		select {
		case <-r.quiet:
		default:
			close(r.quiet)
		}
	}
	r.mu.Unlock()
	return err
}

// Run sends until ctx is done: a Sync first, then batches of changes and heartbeats. Failed
// calls are retried with exponential backoff; Run returns ctx's error.
func (r *Reporter) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for {
		err := r.step(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil {
			backoff = 100 * time.Millisecond
			continue
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		r.options.Logger.Warn("call to the service failed; retrying",
			"code", status.Code(err).String(), "error", err, "in", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		backoff = min(backoff*2, r.options.MaxBackoff)
	}
}

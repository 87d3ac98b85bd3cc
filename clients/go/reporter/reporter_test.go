package reporter

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/statusagg/statusagg/clients/go/statusaggv1"
)

// The tests below the first run against a real service: tests/goclient starts `statusagg
// serve` and sets STATUSAGG_TEST_SERVER (and, for TLS and tokens, the variables of
// TestTLSAndToken). Without it they are skipped.

func deployment(cluster, name string, ready, pad int) *pb.MemberStatus {
	status := map[string]any{"replicas": 3, "readyReplicas": ready}
	if pad > 0 {
		status["message"] = strings.Repeat("x", pad)
	}
	raw, err := json.Marshal(status)
	if err != nil {
		panic(err)
	}
	return &pb.MemberStatus{
		Cluster:    cluster,
		Resource:   &pb.ResourceRef{ApiVersion: "apps/v1", Kind: "Deployment", Namespace: "go", Name: name},
		StatusJson: raw,
		Applied:    true,
		Health:     pb.Health_HEALTH_HEALTHY,
	}
}

func TestBatchesBoundCountAndBytes(t *testing.T) {
	small := make([]*pb.MemberStatus, 7)
	for i := range small {
		small[i] = deployment("c", fmt.Sprint("s-", i), 1, 0)
	}
	if got := sizes(Batches(small, 3, 1<<20)); fmt.Sprint(got) != "[3 3 1]" {
		t.Fatalf("by count: %v", got)
	}
	big := make([]*pb.MemberStatus, 5)
	for i := range big {
		big[i] = deployment("c", fmt.Sprint("b-", i), 1, 1000)
	}
	two := messageOverhead + 2*encodedSize(big[0])
	if got := sizes(Batches(big, 100, two)); fmt.Sprint(got) != "[2 2 1]" {
		t.Fatalf("by bytes: %v", got)
	}
	if got := sizes(Batches(big, 100, 10)); fmt.Sprint(got) != "[1 1 1 1 1]" {
		t.Fatalf("an item over the bound goes alone: %v", got)
	}
}

func sizes(batches [][]*pb.MemberStatus) []int {
	var n []int
	for _, b := range batches {
		n = append(n, len(b))
	}
	return n
}

func server(t *testing.T) string {
	address := os.Getenv("STATUSAGG_TEST_SERVER")
	if address == "" {
		t.Skip("STATUSAGG_TEST_SERVER is not set: no service to test against")
	}
	return address
}

func connect(t *testing.T, address string, tls *TLS, token string, limits Limits) *Client {
	conn, err := Dial(address, tls)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return NewClient(conn, token, limits)
}

func ref(name string) *pb.ResourceRef {
	return &pb.ResourceRef{ApiVersion: "apps/v1", Kind: "Deployment", Namespace: "go", Name: name}
}

// clustersOf is the clusters the service holds an item of name for.
func clustersOf(t *testing.T, ctx context.Context, client *Client, name string) []string {
	reply, err := client.GetAggregate(ctx, ref(name))
	if status.Code(err) == codes.NotFound {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var clusters []string
	for _, item := range reply.Items {
		clusters = append(clusters, item.Cluster)
	}
	return clusters
}

func allAccepted(t *testing.T, answer Answer, want int) {
	t.Helper()
	if len(answer.Results) != want {
		t.Fatalf("%d results for %d items", len(answer.Results), want)
	}
	for i, result := range answer.Results {
		if result.Outcome != pb.ItemResult_OUTCOME_ACCEPTED {
			t.Fatalf("item %d: %v %s", i, result.Outcome, result.Reason)
		}
	}
}

func TestChunkedSyncRemovesOnlyWhatTheLastSyncLacks(t *testing.T) {
	ctx := context.Background()
	// 5,000 items of about 130 bytes: over 64 KiB, so chunked, in chunks of 200
	client := connect(t, server(t), nil, "", Limits{MaxItems: 200, MaxBytes: 64 << 10})
	items := make([]*pb.MemberStatus, 5000)
	for i := range items {
		items[i] = deployment("member-go-sync", fmt.Sprint("sync-", i), 3, 0)
	}
	answer, err := client.Sync(ctx, "member-go-sync", items)
	if err != nil {
		t.Fatal(err)
	}
	allAccepted(t, answer, 5000)
	answer, err = client.Sync(ctx, "member-go-sync", items[1000:])
	if err != nil {
		t.Fatal(err)
	}
	allAccepted(t, answer, 4000)
	if got := clustersOf(t, ctx, client, "sync-0"); len(got) != 0 {
		t.Fatalf("sync-0 left the cluster but is still held for %v", got)
	}
	if got := clustersOf(t, ctx, client, "sync-4999"); fmt.Sprint(got) != "[member-go-sync]" {
		t.Fatalf("sync-4999 held for %v", got)
	}
}

func TestTwoHundredItemsOf100KB(t *testing.T) {
	ctx := context.Background()
	client := connect(t, server(t), nil, "", Limits{})
	items := make([]*pb.MemberStatus, 200)
	for i := range items {
		items[i] = deployment("member-go-big", fmt.Sprint("big-", i), 3, 100_000)
	}
	answer, err := client.Report(ctx, items)
	if err != nil {
		t.Fatal(err)
	}
	allAccepted(t, answer, 200)
	answer, err = client.Sync(ctx, "member-go-big", items[:150])
	if err != nil {
		t.Fatal(err)
	}
	allAccepted(t, answer, 150)
	if got := clustersOf(t, ctx, client, "big-199"); len(got) != 0 {
		t.Fatalf("big-199 held for %v after a Sync without it", got)
	}
}

func TestReporterSession(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := connect(t, server(t), nil, "", Limits{})
	held := map[string]*pb.MemberStatus{}
	for _, name := range []string{"web", "api", "worker"} {
		held[name] = deployment("member-go-session", name, 3, 0)
	}
	snapshot := func() []*pb.MemberStatus {
		var items []*pb.MemberStatus
		for _, item := range held {
			items = append(items, item)
		}
		return items
	}
	r := New(client, "member-go-session", snapshot, Options{Heartbeat: 200 * time.Millisecond})
	done := make(chan error, 1)
	runCtx, stop := context.WithCancel(ctx)
	go func() { done <- r.Run(runCtx) }()
	select {
	case <-r.Synced():
	case <-ctx.Done():
		t.Fatal("no Sync answered")
	}
	if r.Epoch() == "" || r.Epoch() != client.Epoch() {
		t.Fatalf("epoch %q, client saw %q", r.Epoch(), client.Epoch())
	}
	r.Offer(deployment("member-go-session", "web", 1, 0))
	r.Remove("apps/v1", "Deployment", "go", "worker")
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run returned %v", err)
	}
	reply, err := client.GetAggregate(ctx, ref("web"))
	if err != nil {
		t.Fatal(err)
	}
	var status map[string]int
	for _, item := range reply.Items {
		if item.Cluster == "member-go-session" {
			if err := json.Unmarshal(item.StatusJson, &status); err != nil {
				t.Fatal(err)
			}
		}
	}
	if status["readyReplicas"] != 1 {
		t.Fatalf("web: %v", status)
	}
	if got := clustersOf(t, ctx, client, "worker"); len(got) != 0 {
		t.Fatalf("worker was removed but is held for %v", got)
	}
	if got := clustersOf(t, ctx, client, "api"); fmt.Sprint(got) != "[member-go-session]" {
		t.Fatalf("api held for %v", got)
	}
}

func TestTLSAndToken(t *testing.T) {
	address := os.Getenv("STATUSAGG_TEST_TLS_SERVER")
	if address == "" {
		t.Skip("STATUSAGG_TEST_TLS_SERVER is not set: no TLS service to test against")
	}
	ctx := context.Background()
	tls := &TLS{CA: os.Getenv("STATUSAGG_TEST_TLS_CA")}
	token := os.Getenv("STATUSAGG_TEST_TOKEN")
	answer, err := connect(t, address, tls, token, Limits{}).Report(ctx, []*pb.MemberStatus{deployment("member-go-tls", "tls", 3, 0)})
	if err != nil {
		t.Fatal(err)
	}
	allAccepted(t, answer, 1)
	_, err = connect(t, address, tls, "wrong", Limits{Attempts: 1}).Report(ctx, []*pb.MemberStatus{deployment("member-go-tls", "tls", 2, 0)})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("a wrong token: %v", err)
	}
	_, err = connect(t, address, nil, token, Limits{Attempts: 1}).Report(ctx, []*pb.MemberStatus{deployment("member-go-tls", "tls", 2, 0)})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("plaintext to a TLS service: %v", err)
	}
}

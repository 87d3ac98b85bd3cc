// Command report is a minimal statusagg agent: it reports the status of one Deployment in one
// member cluster and prints the service's answer.
//
//	go run ./examples/report --server 127.0.0.1:7443 --cluster member-1 --namespace default --name web --ready 2
//
// The connection is plaintext (the service runs with --insecure); a bearer token is sent when
// STATUSAGG_TOKEN is set. The exit code is 0 when the item was accepted or stale, 1 when it was
// rejected, 2 on a usage or call error.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	pb "github.com/statusagg/statusagg/clients/go/statusaggv1"
)

type options struct {
	server, cluster, namespace, name string
	ready, replicas                  int
	generation                       int64
	timeout                          time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.server, "server", "127.0.0.1:7443", "statusagg gRPC address HOST:PORT")
	flag.StringVar(&o.cluster, "cluster", "", "member cluster name")
	flag.StringVar(&o.namespace, "namespace", "default", "Deployment namespace")
	flag.StringVar(&o.name, "name", "", "Deployment name")
	flag.IntVar(&o.ready, "ready", 0, "ready (and available) replicas in this cluster")
	flag.IntVar(&o.replicas, "replicas", 0, "replicas in this cluster; 0: --ready")
	flag.Int64Var(&o.generation, "generation", 1, "generation of the member copy and of the template it was built from, all observed")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Second, "deadline of the call")
	flag.Parse()
	if o.cluster == "" || o.name == "" || o.ready < 0 || o.replicas < 0 {
		fmt.Fprintln(os.Stderr, "report: --cluster and --name are required; --ready and --replicas must be >= 0")
		flag.Usage()
		os.Exit(2)
	}
	if o.replicas == 0 {
		o.replicas = o.ready
	}
	code, err := report(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
	}
	os.Exit(code)
}

// report sends one item and returns the exit code.
func report(o options) (int, error) {
	status, err := json.Marshal(map[string]int{
		"replicas":          o.replicas,
		"updatedReplicas":   o.replicas,
		"readyReplicas":     o.ready,
		"availableReplicas": o.ready,
	})
	if err != nil {
		return 2, err
	}
	health := pb.Health_HEALTH_UNHEALTHY
	if o.ready >= o.replicas {
		health = pb.Health_HEALTH_HEALTHY
	}
	item := &pb.MemberStatus{
		Cluster: o.cluster,
		Resource: &pb.ResourceRef{
			ApiVersion: "apps/v1",
			Kind:       "Deployment",
			Namespace:  o.namespace,
			Name:       o.name,
		},
		StatusJson:         status,
		Applied:            true,
		Health:             health,
		Generation:         &o.generation,
		ObservedGeneration: &o.generation,
		TemplateGeneration: &o.generation,
		// Later reports of this item must carry higher sequences, also across runs.
		Sequence: uint64(time.Now().UnixNano()),
	}

	conn, err := grpc.NewClient(o.server, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return 2, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	if token := os.Getenv("STATUSAGG_TOKEN"); token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	reply, err := pb.NewStatusAggregatorClient(conn).Report(ctx, &pb.ReportRequest{Items: []*pb.MemberStatus{item}})
	if err != nil {
		return 2, err
	}
	if len(reply.GetResults()) != 1 {
		return 2, fmt.Errorf("expected 1 result, got %d", len(reply.GetResults()))
	}
	result := reply.GetResults()[0]
	line := fmt.Sprintf("%s %s/%s: %s", o.cluster, o.namespace, o.name, result.GetOutcome())
	if result.GetReason() != "" {
		line += " (" + result.GetReason() + ")"
	}
	fmt.Printf("%s\nepoch %s\n", line, reply.GetEpoch())
	if result.GetOutcome() == pb.ItemResult_OUTCOME_REJECTED {
		return 1, nil
	}
	return 0, nil
}

// Command agent is a minimal member agent built on the reporter package: it holds a few
// Deployments' statuses in memory (a real agent watches its cluster), sends them all with a
// Sync, reports one change and one removal, prints what the service holds for one of them and
// exits.
//
//	go run ./examples/agent --server 127.0.0.1:7443 --cluster member-1
//
// With TLS: --ca (and --cert/--key for mutual TLS); with a bearer token: STATUSAGG_TOKEN. The
// exit code is 0 on success, 1 when the service could not be reached or refused a call.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/statusagg/statusagg/clients/go/reporter"
	pb "github.com/statusagg/statusagg/clients/go/statusaggv1"
)

func deployment(cluster, namespace, name string, ready int) *pb.MemberStatus {
	status, _ := json.Marshal(map[string]int{"replicas": 3, "updatedReplicas": 3, "readyReplicas": ready})
	health := pb.Health_HEALTH_HEALTHY
	if ready < 3 {
		health = pb.Health_HEALTH_UNHEALTHY
	}
	generation := int64(1)
	return &pb.MemberStatus{
		Cluster:            cluster,
		Resource:           &pb.ResourceRef{ApiVersion: "apps/v1", Kind: "Deployment", Namespace: namespace, Name: name},
		StatusJson:         status,
		Applied:            true,
		Health:             health,
		Generation:         &generation,
		ObservedGeneration: &generation,
	}
}

func main() {
	server := flag.String("server", "127.0.0.1:7443", "statusagg gRPC address HOST:PORT")
	cluster := flag.String("cluster", "member-1", "member cluster name")
	namespace := flag.String("namespace", "default", "namespace of the Deployments")
	ca := flag.String("ca", "", "CA bundle that signed the server certificate (enables TLS)")
	cert := flag.String("cert", "", "client certificate, for mutual TLS")
	key := flag.String("key", "", "client private key, for mutual TLS")
	timeout := flag.Duration("timeout", 30*time.Second, "give up after this long")
	flag.Parse()
	if err := run(*server, *cluster, *namespace, *ca, *cert, *key, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		os.Exit(1)
	}
}

func run(server, cluster, namespace, ca, cert, key string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var tls *reporter.TLS
	if ca != "" {
		tls = &reporter.TLS{CA: ca, Cert: cert, Key: key}
	}
	conn, err := reporter.Dial(server, tls)
	if err != nil {
		return err
	}
	defer conn.Close()
	client := reporter.NewClient(conn, os.Getenv("STATUSAGG_TOKEN"), reporter.Limits{})

	// what the cluster holds now; a Sync sends it whole
	var mu sync.Mutex
	held := map[string]*pb.MemberStatus{}
	for _, name := range []string{"web", "api", "worker"} {
		held[name] = deployment(cluster, namespace, name, 3)
	}
	snapshot := func() []*pb.MemberStatus {
		mu.Lock()
		defer mu.Unlock()
		items := make([]*pb.MemberStatus, 0, len(held))
		for _, item := range held {
			items = append(items, item)
		}
		return items
	}
	r := reporter.New(client, cluster, snapshot, reporter.Options{})
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	select {
	case <-r.Synced():
	case <-ctx.Done():
		return fmt.Errorf("no Sync answered: %w", ctx.Err())
	}
	fmt.Printf("synced %d items, service epoch %s\n", len(held), r.Epoch())

	mu.Lock()
	held["web"] = deployment(cluster, namespace, "web", 1)
	delete(held, "worker")
	mu.Unlock()
	r.Offer(held["web"])
	r.Remove("apps/v1", "Deployment", namespace, "worker")
	if err := r.Flush(ctx); err != nil {
		return err
	}
	stop()
	<-done

	reply, err := client.GetAggregate(ctx, &pb.ResourceRef{ApiVersion: "apps/v1", Kind: "Deployment", Namespace: namespace, Name: "web"})
	if err != nil {
		return err
	}
	for _, item := range reply.Items {
		fmt.Printf("%s %s/web: %s\n", item.Cluster, namespace, item.StatusJson)
	}
	return nil
}

// Package reporter is the Go client of statusagg: what a member-cluster agent needs to report
// statuses.
//
// Dial connects (plaintext, TLS or mutual TLS); a Client makes the calls (Report, chunked Sync,
// Heartbeat, GetAggregate), split into messages by item count and bytes and retried with
// exponential backoff; a Reporter runs one cluster's reporting session: sequences, a Sync at
// start and whenever the service's epoch changes, batches of changes and heartbeats.
package reporter

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// maxReceiveBytes bounds answers (GetAggregate, a large Sync) above gRPC's 4 MiB default.
const maxReceiveBytes = 64 << 20

// TLS names the PEM files to verify the server with and, for mutual TLS, this client's
// certificate. An empty CA trusts the system roots; ServerName overrides the name checked on
// the server's certificate (when dialling an IP address).
type TLS struct {
	CA, Cert, Key string
	ServerName    string
}

func (t *TLS) config() (*tls.Config, error) {
	config := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, err
		}
		config.RootCAs = x509.NewCertPool()
		if !config.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", t.CA)
		}
	}
	if t.Cert != "" || t.Key != "" {
		pair, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, err
		}
		config.Certificates = []tls.Certificate{pair}
	}
	return config, nil
}

// Dial opens a connection to target (host:port), plaintext when t is nil. The connection
// reconnects by itself when the service closes it (a restart, or the server's maximum
// connection age), so one connection serves a process for its whole life.
func Dial(target string, t *TLS, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if t != nil {
		config, err := t.config()
		if err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(config)
	}
	opts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxReceiveBytes)),
	}, opts...)
	return grpc.NewClient(target, opts...)
}

// Command local-apiserver runs a real kube-apiserver with an embedded etcd in one process,
// listening on loopback only, for statusagg's tests, benchmarks and demos.
//
// All state lives in --data-dir: etcd data, the serving certificate, the service-account key,
// the admin token and the kubeconfig. Starting again on the same directory resumes the same
// cluster. The kubeconfig is written once /readyz answers 200, so its appearance means "ready".
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // for timeZone support in CronJob

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

type options struct {
	dataDir    string
	port       int
	kubeconfig string
	verbosity  int
	extraArgs  []string
}

func main() {
	opts, err := parseOptions(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "local-apiserver: %v\n", err)
		os.Exit(2)
	}
	os.Exit(run(opts))
}

func parseOptions(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("local-apiserver", flag.ContinueOnError)
	fs.StringVar(&o.dataDir, "data-dir", "", "directory holding all state (required)")
	fs.IntVar(&o.port, "port", 0, "secure port on 127.0.0.1 (0: reuse the last one or pick a free one)")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "where to write the kubeconfig (default DATA_DIR/kubeconfig)")
	fs.IntVar(&o.verbosity, "v", 0, "kube-apiserver log verbosity")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.dataDir == "" {
		return o, errors.New("--data-dir is required")
	}
	abs, err := filepath.Abs(o.dataDir)
	if err != nil {
		return o, err
	}
	o.dataDir = abs
	if o.kubeconfig == "" {
		o.kubeconfig = filepath.Join(o.dataDir, "kubeconfig")
	}
	o.extraArgs = fs.Args() // everything after "--" goes to kube-apiserver
	return o, nil
}

func run(o options) int {
	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return fail("create data dir: %v", err)
	}
	// A kubeconfig left by a previous run must not be mistaken for readiness of this one.
	_ = os.Remove(o.kubeconfig)

	ports, err := loadOrPickPorts(filepath.Join(o.dataDir, "ports.json"), o.port)
	if err != nil {
		return fail("%v", err)
	}
	token, err := loadOrCreateToken(filepath.Join(o.dataDir, "admin-token"))
	if err != nil {
		return fail("admin token: %v", err)
	}
	pki := filepath.Join(o.dataDir, "pki")
	if err := os.MkdirAll(pki, 0o700); err != nil {
		return fail("create pki dir: %v", err)
	}
	saKey := filepath.Join(pki, "sa.key")
	if err := ensureServiceAccountKey(saKey); err != nil {
		return fail("service-account key: %v", err)
	}
	tokenFile := filepath.Join(pki, "tokens.csv")
	if err := os.WriteFile(tokenFile, []byte(token+`,admin,uid-admin,"system:masters"`+"\n"), 0o600); err != nil {
		return fail("token file: %v", err)
	}

	etcd, err := startEtcd(filepath.Join(o.dataDir, "etcd"), ports.EtcdClient, ports.EtcdPeer)
	if err != nil {
		return fail("etcd: %v", err)
	}
	defer func() {
		etcd.Close()
		<-etcd.Server.StopNotify()
	}()

	server := fmt.Sprintf("https://127.0.0.1:%d", ports.APIServer)
	args := []string{
		"--etcd-servers=" + fmt.Sprintf("http://127.0.0.1:%d", ports.EtcdClient),
		"--bind-address=127.0.0.1",
		"--advertise-address=192.0.2.1", // never dialled: there is no kubelet and no endpoint reconciler
		"--endpoint-reconciler-type=none",
		"--secure-port=" + strconv.Itoa(ports.APIServer),
		"--cert-dir=" + pki,
		"--service-account-issuer=" + server,
		"--service-account-key-file=" + saKey,
		"--service-account-signing-key-file=" + saKey,
		"--token-auth-file=" + tokenFile,
		"--authorization-mode=RBAC",
		"--disable-admission-plugins=ServiceAccount",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--allow-privileged=true",
		"--profiling=false",
		"--v=" + strconv.Itoa(o.verbosity),
	}
	args = append(args, o.extraArgs...)

	readyDone := make(chan struct{})
	go func() {
		defer close(readyDone)
		if err := waitReady(server, token, 120*time.Second); err != nil {
			fmt.Fprintf(os.Stderr, "local-apiserver: %v\n", err)
			return
		}
		ca := filepath.Join(pki, "apiserver.crt")
		if err := writeKubeconfig(o.kubeconfig, server, ca, token); err != nil {
			fmt.Fprintf(os.Stderr, "local-apiserver: write kubeconfig: %v\n", err)
			return
		}
		fmt.Fprintf(os.Stderr, "local-apiserver: ready at %s, kubeconfig %s\n", server, o.kubeconfig)
	}()

	cmd := app.NewAPIServerCommand()
	cmd.SetArgs(args)
	code := cli.Run(cmd) // handles SIGINT/SIGTERM itself and returns after a graceful shutdown
	_ = os.Remove(o.kubeconfig)
	return code
}

func fail(format string, a ...any) int {
	fmt.Fprintf(os.Stderr, "local-apiserver: "+format+"\n", a...)
	return 1
}

type portSet struct {
	APIServer  int `json:"apiserver"`
	EtcdClient int `json:"etcdClient"`
	EtcdPeer   int `json:"etcdPeer"`
}

// loadOrPickPorts reuses the ports of the previous run on this data dir, so clients keep their
// address across a restart; ports that are taken now are replaced by free ones.
func loadOrPickPorts(path string, apiPort int) (portSet, error) {
	var p portSet
	if raw, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(raw, &p)
	}
	if apiPort != 0 {
		p.APIServer = apiPort
		if !portFree(apiPort) {
			return p, fmt.Errorf("port %d on 127.0.0.1 is already in use", apiPort)
		}
	}
	for _, port := range []*int{&p.APIServer, &p.EtcdClient, &p.EtcdPeer} {
		if *port == 0 || !portFree(*port) {
			free, err := freePort()
			if err != nil {
				return p, err
			}
			*port = free
		}
	}
	raw, _ := json.Marshal(p)
	return p, os.WriteFile(path, raw, 0o600)
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func loadOrCreateToken(path string) (string, error) {
	if raw, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(raw))) > 0 {
		return strings.TrimSpace(string(raw)), nil
	}
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	token := hex.EncodeToString(buf)
	return token, os.WriteFile(path, []byte(token+"\n"), 0o600)
}

func ensureServiceAccountKey(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}

func startEtcd(dir string, clientPort, peerPort int) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Dir = dir
	cfg.UnsafeNoFsync = true
	cfg.LogLevel = "error"
	clientURL := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(clientPort))}
	peerURL := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(peerPort))}
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, err
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, errors.New("not ready after 60s")
	}
}

func waitReady(server, token string, timeout time.Duration) error {
	client := &http.Client{
		Timeout: 2 * time.Second,
		// Only the readiness probe skips verification; the kubeconfig pins the serving certificate.
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, server+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s/readyz did not answer 200 within %s", server, timeout)
}

func writeKubeconfig(path, server, caFile, token string) error {
	content := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: admin
  user:
    token: %s
contexts:
- name: local
  context:
    cluster: local
    user: admin
current-context: local
`, server, caFile, token)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

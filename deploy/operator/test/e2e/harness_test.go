// Package e2e drives the operator the way a cluster would, against a real
// kube-apiserver and etcd (controller-runtime's envtest; binaries from
// hack/envtest-assets.sh in $KUBEBUILDER_ASSETS), real sglang-router and
// simulated worker processes ($SR_BIN_DIR) and the operator's own binary
// ($SR_OPERATOR_BIN), each operator a separate process.
//
// There is no kubelet, scheduler or controller-manager: a test plays the
// kubelet by patching pod status (phase Running, podIP, the Ready condition)
// and by starting the process a pod stands for on that pod's own loopback
// address (127.0.x.y; all of 127.0.0.0/8 is loopback), so every pod keeps the
// ports it would have in a cluster (workers 8000, routers 30000 and admin
// 30001). Each test uses a fresh namespace (namespaces never finish deleting
// without a controller-manager).
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	routingv1alpha1 "sglang-router.dev/operator/api/v1alpha1"
)

const adminToken = "e2e-admin-token"

var (
	env         *envtest.Environment
	k8s         client.Client
	scheme      = runtime.NewScheme()
	kubeconfig  string
	binDir      string
	operatorBin string
	ipCounter   atomic.Int32
	nsCounter   atomic.Int32
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	binDir, operatorBin = os.Getenv("SR_BIN_DIR"), os.Getenv("SR_OPERATOR_BIN")
	missing := []string{}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		missing = append(missing, "KUBEBUILDER_ASSETS (hack/envtest-assets.sh prints it)")
	}
	for _, f := range []string{filepath.Join(binDir, "sglang-router"), filepath.Join(binDir, "sglang-worker-sim"),
		filepath.Join(binDir, "sglctl"), operatorBin} {
		if st, err := os.Stat(f); err != nil || st.IsDir() {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: missing %s (run `make test`, which sets them)\n", strings.Join(missing, ", "))
		return 1
	}
	_ = clientgoscheme.AddToScheme(scheme)
	_ = routingv1alpha1.AddToScheme(scheme)
	env = &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: envtest: %v\n", err)
		return 1
	}
	defer env.Stop()
	if k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: client: %v\n", err)
		return 1
	}
	user, err := env.AddUser(envtest.User{Name: "e2e-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: user: %v\n", err)
		return 1
	}
	kc, err := user.KubeConfig()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: kubeconfig: %v\n", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "e2e-kubeconfig")
	if err != nil {
		return 1
	}
	defer os.RemoveAll(dir)
	kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return 1
	}
	return m.Run()
}

// nextIP hands out a loopback address of its own to every pod.
func nextIP() string {
	n := ipCounter.Add(1)
	return fmt.Sprintf("127.0.%d.%d", 10+n/200, 1+n%200)
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type proc struct {
	name      string
	cmd       *exec.Cmd
	out       *syncBuffer
	done      chan struct{}
	tokenFile string // a router's --admin-token-file, as the Deployment mounts it
}

// start runs a program until the test ends; ready is a line it prints once
// it serves (empty: do not wait).
func start(t *testing.T, ready string, argv ...string) *proc {
	t.Helper()
	p := &proc{name: filepath.Base(argv[0]), cmd: exec.Command(argv[0], argv[1:]...), out: &syncBuffer{},
		done: make(chan struct{})}
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", argv[0], err)
	}
	seen := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		once := sync.Once{}
		for sc.Scan() {
			p.out.Write(append(sc.Bytes(), '\n'))
			if ready != "" && strings.Contains(sc.Text(), ready) {
				once.Do(func() { close(seen) })
			}
		}
	}()
	go func() {
		p.cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop() })
	if ready != "" {
		select {
		case <-seen:
		case <-p.done:
			t.Fatalf("%s exited before it was ready:\n%s", p.name, p.out.String())
		case <-time.After(20 * time.Second):
			t.Fatalf("%s not ready after 20 s:\n%s", p.name, p.out.String())
		}
	}
	return p
}

// stop ends the process gracefully (SIGTERM), then for good.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

func startSim(t *testing.T, ip, id string) *proc {
	return start(t, "listening on", filepath.Join(binDir, "sglang-worker-sim"), "--host", ip, "--port", "8000",
		"--worker-id", id, "--output-len", "4", "--decode-step-ms", "2", "--prefill-overhead-ms", "2")
}

// startRouter runs a router as the Deployment does: the admin token in a
// file (the mounted Secret), which SIGHUP rereads.
func startRouter(t *testing.T, ip string, extra ...string) *proc {
	tokenFile := writeToken(t, adminToken)
	args := append([]string{filepath.Join(binDir, "sglang-router"), "--host", ip, "--port", "30000",
		"--admin-host", ip, "--admin-port", "30001", "--admin-token-file", tokenFile, "--prometheus-port", "-1",
		"--health-check-interval-secs", "1", "--threads", "1"}, extra...)
	p := start(t, "admin gRPC on", args...)
	p.tokenFile = tokenFile
	return p
}

// writeToken puts token in a new file, with the newline a Secret's file may have.
func writeToken(t *testing.T, token string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// rotateToken rewrites a router's token file and has it reread (SIGHUP).
func (p *proc) rotateToken(t *testing.T, token string) {
	t.Helper()
	if err := os.WriteFile(p.tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

func startOperator(t *testing.T, extra ...string) *proc {
	args := append([]string{operatorBin, "--kubeconfig", kubeconfig, "--metrics-bind-address", "0",
		"--health-probe-bind-address", "0", "--resync-interval", "500ms", "--stats-interval", "2s"}, extra...)
	return start(t, "", args...)
}

func newNamespace(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("e2e-%d-%s", nsCounter.Add(1), strings.ToLower(regexp.MustCompile(`[^a-zA-Z0-9]+`).
		ReplaceAllString(t.Name(), "-")))
	if len(name) > 60 {
		name = strings.TrimRight(name[:60], "-")
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatalf("namespace: %v", err)
	}
	tokenSecret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "admin-token", Namespace: name},
		Data: map[string][]byte{"token": []byte(adminToken)}}
	if err := k8s.Create(context.Background(), tokenSecret); err != nil {
		t.Fatalf("secret: %v", err)
	}
	return name
}

var (
	workerLabels = map[string]string{"app.kubernetes.io/name": "sglang-worker"}
	routerLabels = map[string]string{"app.kubernetes.io/name": "sglang-router"}
)

// createPod creates a pod and plays the kubelet: Running on ip, Ready or not.
func createPod(t *testing.T, ns, name string, labels map[string]string, ip string, ready bool) {
	t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "example.invalid/x:1",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8000}}}}}}
	if err := k8s.Create(context.Background(), p); err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}
	setCondition(p, ready)
	if err := k8s.Status().Update(context.Background(), p); err != nil {
		t.Fatalf("pod %s status: %v", name, err)
	}
}

func setCondition(p *corev1.Pod, ready bool) {
	s := corev1.ConditionFalse
	if ready {
		s = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: s,
		LastTransitionTime: metav1.Now()}}
}

func setReady(t *testing.T, ns, name string, ready bool) {
	t.Helper()
	var p corev1.Pod
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &p); err != nil {
		t.Fatal(err)
	}
	setCondition(&p, ready)
	if err := k8s.Status().Update(context.Background(), &p); err != nil {
		t.Fatalf("pod %s ready=%v: %v", name, ready, err)
	}
}

// deletePodSlowly deletes a pod that a finalizer keeps, as a kubelet keeps a
// terminating pod until its containers stop: it gets a deletion timestamp.
func deletePodSlowly(t *testing.T, ns, name string) {
	t.Helper()
	ctx := context.Background()
	var p corev1.Pod
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &p); err != nil {
		t.Fatal(err)
	}
	p.Finalizers = append(p.Finalizers, "e2e.sglang-router.dev/kubelet")
	if err := k8s.Update(ctx, &p); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Delete(ctx, &p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		var q corev1.Pod
		if k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &q) == nil {
			q.Finalizers = nil
			k8s.Update(ctx, &q)
		}
	})
}

func deletePod(t *testing.T, ns, name string) {
	t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if err := k8s.Delete(context.Background(), p, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
}

// newRouter is an SGLangRouter selecting the usual labels, the token Secret
// and the given routing settings.
func newRouter(ns, name string, routing routingv1alpha1.RoutingSettings) *routingv1alpha1.SGLangRouter {
	return &routingv1alpha1.SGLangRouter{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: routingv1alpha1.SGLangRouterSpec{
			Workers: &routingv1alpha1.WorkerSelection{Selector: metav1.LabelSelector{MatchLabels: workerLabels},
				Port: intstr.FromString("http")},
			Routers: routingv1alpha1.RouterSelection{Selector: metav1.LabelSelector{MatchLabels: routerLabels},
				AdminPort: 30001, AdminTokenSecretRef: &routingv1alpha1.SecretKeyReference{Name: "admin-token"}},
			Routing: routing,
		}}
}

// routerWorkers is what a router lists (its HTTP /list_workers), sorted.
func routerWorkers(ip string) ([]string, error) {
	resp, err := http.Get("http://" + ip + ":30000/list_workers")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		URLs []string `json:"urls"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	sort.Strings(body.URLs)
	return body.URLs, nil
}

func urlsOf(ips ...string) []string {
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, "http://"+ip+":8000")
	}
	sort.Strings(out)
	return out
}

// waitWorkers waits until every router lists exactly want; returns how long it took.
func waitWorkers(t *testing.T, within time.Duration, want []string, routerIPs ...string) time.Duration {
	t.Helper()
	t0 := time.Now()
	var last []string
	for time.Since(t0) < within {
		ok := true
		for _, ip := range routerIPs {
			got, err := routerWorkers(ip)
			if err != nil || strings.Join(got, ",") != strings.Join(want, ",") {
				ok, last = false, got
				break
			}
		}
		if ok {
			return time.Since(t0)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("routers %v did not list %v within %v (last seen %v)", routerIPs, want, within, last)
	return 0
}

// waitHealthy waits until every router has health-checked all its workers
// (a router sends no traffic to a worker it has not yet seen healthy).
func waitHealthy(t *testing.T, within time.Duration, routerIPs ...string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, ip := range routerIPs {
		for {
			resp, err := http.Get("http://" + ip + ":30000/list_workers")
			healthy := false
			if err == nil {
				var body struct {
					Workers []struct {
						Health string `json:"health"`
					} `json:"workers"`
				}
				if json.NewDecoder(resp.Body).Decode(&body) == nil && len(body.Workers) > 0 {
					healthy = true
					for _, w := range body.Workers {
						healthy = healthy && w.Health == "healthy"
					}
				}
				resp.Body.Close()
			}
			if healthy {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("router %s: workers not all healthy within %v", ip, within)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// generate sends one request through a router; returns the worker id.
func generate(ip string) (string, int, error) {
	resp, err := http.Post("http://"+ip+":30000/generate", "application/json",
		strings.NewReader(`{"text":"hello from the e2e test","sampling_params":{"max_new_tokens":4}}`))
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.Header.Get("X-Worker-Id"), resp.StatusCode, nil
}

// sglctl runs the CLI against a router's admin API and returns its stdout.
func sglctl(t *testing.T, ip string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "sglctl"), append([]string{"--addr", ip + ":30001", "--token-file",
		writeToken(t, adminToken), "--json"}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sglctl %v: %v", args, err)
	}
	return string(out)
}

func getRouter(t *testing.T, ns, name string) *routingv1alpha1.SGLangRouter {
	t.Helper()
	var sr routingv1alpha1.SGLangRouter
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &sr); err != nil {
		t.Fatal(err)
	}
	return &sr
}

// waitCondition waits until the resource's condition has the status and reason.
func waitCondition(t *testing.T, ns, name, typ string, status metav1.ConditionStatus, reason string,
	within time.Duration) metav1.Condition {
	t.Helper()
	deadline := time.Now().Add(within)
	var last []metav1.Condition
	for time.Now().Before(deadline) {
		sr := getRouter(t, ns, name)
		last = sr.Status.Conditions
		for _, c := range sr.Status.Conditions {
			if c.Type == typ && c.Status == status && (reason == "" || c.Reason == reason) {
				return c
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("condition %s=%s (%s) not reached within %v; conditions: %+v", typ, status, reason, within, last)
	return metav1.Condition{}
}

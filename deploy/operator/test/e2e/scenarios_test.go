package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	routingv1alpha1 "sglang-router.dev/operator/api/v1alpha1"
)

// fleet is a namespace with n worker pods and m router pods, their
// processes running, the resource created and one operator started.
type fleet struct {
	ns        string
	workerIPs map[string]string // pod name -> ip
	routerIPs []string
	routers   []*proc
	operator  *proc
}

func newFleet(t *testing.T, workers, routers int, routing routingv1alpha1.RoutingSettings) *fleet {
	t.Helper()
	return newFleetWith(t, workers, routers, func(sr *routingv1alpha1.SGLangRouter) { sr.Spec.Routing = routing })
}

// newFleetWith is newFleet with the resource edited before it is created
// (in its namespace, which exists by then).
func newFleetWith(t *testing.T, workers, routers int, edit func(*routingv1alpha1.SGLangRouter)) *fleet {
	t.Helper()
	f := &fleet{ns: newNamespace(t), workerIPs: map[string]string{}}
	for i := 0; i < routers; i++ {
		ip := nextIP()
		f.routers = append(f.routers, startRouter(t, ip))
		f.routerIPs = append(f.routerIPs, ip)
		createPod(t, f.ns, fmt.Sprintf("router-%d", i), routerLabels, ip, false)
	}
	for i := 0; i < workers; i++ {
		f.addWorker(t, fmt.Sprintf("worker-%d", i))
	}
	sr := newRouter(f.ns, "sglang", routingv1alpha1.RoutingSettings{})
	edit(sr)
	if err := k8s.Create(context.Background(), sr); err != nil {
		t.Fatalf("create SGLangRouter: %v", err)
	}
	f.operator = startOperator(t)
	return f
}

func (f *fleet) addWorker(t *testing.T, name string) string {
	ip := nextIP()
	startSim(t, ip, name)
	createPod(t, f.ns, name, workerLabels, ip, true)
	f.workerIPs[name] = ip
	return ip
}

func (f *fleet) urls(names ...string) []string {
	ips := []string{}
	for _, n := range names {
		ips = append(ips, f.workerIPs[n])
	}
	return urlsOf(ips...)
}

// traffic sends requests through every router until stopped; returns the
// failures seen (any status but 200, any transport error).
func traffic(ips []string) (stop func() (ok int64, failures []string)) {
	var wg sync.WaitGroup
	var done atomic.Bool
	var okCount atomic.Int64
	var mu sync.Mutex
	var failures []string
	for _, ip := range ips {
		for c := 0; c < 2; c++ {
			wg.Add(1)
			go func(ip string) {
				defer wg.Done()
				for !done.Load() {
					_, status, err := generate(ip)
					if err != nil || status != 200 {
						mu.Lock()
						failures = append(failures, fmt.Sprintf("%s: status %d err %v", ip, status, err))
						mu.Unlock()
					} else {
						okCount.Add(1)
					}
				}
			}(ip)
		}
	}
	return func() (int64, []string) {
		done.Store(true)
		wg.Wait()
		return okCount.Load(), failures
	}
}

func TestWorkersReachEveryRouter(t *testing.T) {
	t0 := time.Now()
	f := newFleet(t, 3, 2, routingv1alpha1.RoutingSettings{})
	want := f.urls("worker-0", "worker-1", "worker-2")
	took := waitWorkers(t, 10*time.Second, want, f.routerIPs...)
	t.Logf("operator start -> both routers list 3 workers: %v (from fleet creation %v)", took, time.Since(t0))

	// A worker pod turning ready reaches both routers within 2 s.
	ip := nextIP()
	startSim(t, ip, "worker-3")
	createPod(t, f.ns, "worker-3", workerLabels, ip, false)
	time.Sleep(300 * time.Millisecond)
	setReady(t, f.ns, "worker-3", true)
	f.workerIPs["worker-3"] = ip
	took = waitWorkers(t, 2*time.Second, f.urls("worker-0", "worker-1", "worker-2", "worker-3"), f.routerIPs...)
	t.Logf("pod ready -> both routers updated: %v", took)

	// sglctl sees the same, and requests go through each router to those workers.
	out := sglctl(t, f.routerIPs[0], "workers", "list")
	for _, u := range f.urls("worker-0", "worker-3") {
		if !strings.Contains(out, u) {
			t.Fatalf("sglctl workers list lacks %s:\n%s", u, out)
		}
	}
	waitHealthy(t, 5*time.Second, f.routerIPs...)
	for _, rip := range f.routerIPs {
		id, status, err := generate(rip)
		if err != nil || status != 200 || !strings.HasPrefix(id, "worker-") {
			t.Fatalf("through %s: %q %d %v", rip, id, status, err)
		}
	}
	cond := waitCondition(t, f.ns, "sglang", "Ready", metav1.ConditionTrue, "Synced", 5*time.Second)
	t.Logf("Ready: %s", cond.Message)
	sr := getRouter(t, f.ns, "sglang")
	if sr.Status.ReadyWorkers != 4 || sr.Status.SyncedRouters != "2/2" || len(sr.Status.RouterReplicas) != 2 ||
		sr.Status.ObservedGeneration != sr.Generation {
		t.Fatalf("status: %+v", sr.Status)
	}
	// kubectl's printer columns.
	cmd := exec.Command(filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl"), "--kubeconfig", kubeconfig,
		"get", "sglangrouters", "-n", f.ns, "-o", "wide")
	table, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(table), "cache_aware") || !strings.Contains(string(table), "2/2") {
		t.Fatalf("kubectl get sglangrouters: %v\n%s", err, table)
	}
	t.Logf("kubectl get sglangrouters -o wide:\n%s", table)
}

func TestLeavingWorkersDrainWithoutFailures(t *testing.T) {
	f := newFleet(t, 4, 2, routingv1alpha1.RoutingSettings{})
	waitWorkers(t, 10*time.Second, f.urls("worker-0", "worker-1", "worker-2", "worker-3"), f.routerIPs...)
	waitHealthy(t, 5*time.Second, f.routerIPs...)
	stop := traffic(f.routerIPs)

	time.Sleep(300 * time.Millisecond)
	setReady(t, f.ns, "worker-1", false)
	took := waitWorkers(t, 2*time.Second, f.urls("worker-0", "worker-2", "worker-3"), f.routerIPs...)
	t.Logf("worker NotReady -> gone from both routers: %v", took)

	time.Sleep(300 * time.Millisecond)
	deletePodSlowly(t, f.ns, "worker-2")
	took = waitWorkers(t, 2*time.Second, f.urls("worker-0", "worker-3"), f.routerIPs...)
	t.Logf("worker terminating (deletion timestamp) -> gone from both routers: %v", took)

	time.Sleep(500 * time.Millisecond)
	ok, failures := stop()
	if len(failures) > 0 {
		t.Fatalf("%d of %d requests failed while workers left: %v", len(failures), ok+int64(len(failures)),
			failures[:min(5, len(failures))])
	}
	if ok < 20 {
		t.Fatalf("only %d requests went through", ok)
	}
	t.Logf("%d requests during the changes, 0 failed", ok)
}

func TestScaleWorkers(t *testing.T) {
	f := newFleet(t, 3, 2, routingv1alpha1.RoutingSettings{})
	waitWorkers(t, 10*time.Second, f.urls("worker-0", "worker-1", "worker-2"), f.routerIPs...)
	for i := 3; i < 6; i++ {
		f.addWorker(t, fmt.Sprintf("worker-%d", i))
	}
	took := waitWorkers(t, 2*time.Second, f.urls("worker-0", "worker-1", "worker-2", "worker-3", "worker-4",
		"worker-5"), f.routerIPs...)
	t.Logf("3 -> 6 workers on both routers: %v", took)
	for _, n := range []string{"worker-0", "worker-2", "worker-3", "worker-5"} {
		deletePod(t, f.ns, n)
	}
	took = waitWorkers(t, 2*time.Second, f.urls("worker-1", "worker-4"), f.routerIPs...)
	t.Logf("6 -> 2 workers on both routers: %v", took)
}

// spec.routing.maxConcurrentPerWorker reaches every router at runtime; their
// limits follow the workers the operator pushes, and the status adds them up.
// Unset limits are left as the routers have them.
func TestConcurrencyLimitFollowsTheFleet(t *testing.T) {
	f := newFleetWith(t, 3, 2, func(sr *routingv1alpha1.SGLangRouter) {
		sr.Spec.Routing.MaxConcurrentPerWorker = ptr.To[int64](4)
		sr.Spec.Routing.QueueSize = ptr.To[int64](100000)
	})
	limit := func(want int64, what string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		var got *routingv1alpha1.StatsSummary
		for time.Now().Before(deadline) {
			if got = getRouter(t, f.ns, "sglang").Status.Stats; got != nil && got.ConcurrencyLimit == want {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("%s: status.stats %+v, want concurrencyLimit %d", what, got, want)
	}
	limit(2*3*4, "2 routers, 3 healthy workers, 4 each")
	for i := 3; i < 6; i++ {
		f.addWorker(t, fmt.Sprintf("worker-%d", i))
	}
	limit(2*6*4, "6 workers")
	for _, n := range []string{"worker-0", "worker-2", "worker-3", "worker-5"} {
		deletePod(t, f.ns, n)
	}
	limit(2*2*4, "2 workers")
	for _, ip := range f.routerIPs {
		c := configOf(t, ip)
		if fmt.Sprint(c["queue_size"]) != "100000" || fmt.Sprint(c["max_concurrent_requests"]) != "0" ||
			fmt.Sprint(c["queue_timeout_secs"]) != "60" {
			t.Fatalf("router %s: %v", ip, c)
		}
	}
	var q map[string]any
	out := sglctl(t, f.routerIPs[0], "stats", "queues")
	if err := json.Unmarshal([]byte(out), &q); err != nil || fmt.Sprint(q["concurrency_limit"]) != "8" {
		t.Fatalf("sglctl stats queues on one router (%v):\n%s", err, out)
	}
}

// configOf reads a router's settings with sglctl.
func configOf(t *testing.T, ip string) map[string]any {
	t.Helper()
	var out map[string]any
	text := sglctl(t, ip, "config", "get")
	if err := json.Unmarshal([]byte(text), &out); err != nil {
		t.Fatalf("sglctl config get: %v: %s", err, text)
	}
	if c, ok := out["config"].(map[string]any); ok {
		return c
	}
	return out
}

func TestSettingsReachEveryRouter(t *testing.T) {
	f := newFleet(t, 2, 2, routingv1alpha1.RoutingSettings{Policy: "cache_cost"})
	waitWorkers(t, 10*time.Second, f.urls("worker-0", "worker-1"), f.routerIPs...)
	sr := getRouter(t, f.ns, "sglang")
	orig := sr.DeepCopy() // a merge patch, as kubectl patch would: the operator writes the status meanwhile
	sr.Spec.Routing.CacheThreshold = ptr.To(0.7)
	sr.Spec.Routing.BalanceAbsThreshold = ptr.To[int64](5)
	sr.Spec.Routing.CacheMissMargin = ptr.To[int64](3) // the README's setting for mixed prompt lengths
	if err := k8s.Patch(context.Background(), sr, client.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	for _, ip := range f.routerIPs {
		for {
			c := configOf(t, ip)
			if c["cache_threshold"] == 0.7 && c["policy"] == "cache_cost" && fmt.Sprint(c["balance_abs_threshold"]) == "5" &&
				fmt.Sprint(c["cache_miss_margin"]) == "3" {
				break
			}
			if time.Since(t0) > 2*time.Second {
				t.Fatalf("router %s config after 2 s: %v", ip, c)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Logf("cacheThreshold 0.5 -> 0.7 on both routers: %v", time.Since(t0))
	// The routers may have the settings before the operator writes the
	// status that says so; ConfigSynced is already True from the last
	// generation, so it counts only once the status observes this one.
	for sr := getRouter(t, f.ns, "sglang"); sr.Status.ObservedGeneration != sr.Generation; sr = getRouter(t, f.ns, "sglang") {
		if time.Since(t0) > 5*time.Second {
			t.Fatalf("observedGeneration %d, generation %d after 5 s", sr.Status.ObservedGeneration, sr.Generation)
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitCondition(t, f.ns, "sglang", "ConfigSynced", metav1.ConditionTrue, "AllReplicasSynced", 5*time.Second)
}

// The CRD's defaults are the router's: a resource with no routing settings
// and a router started without flags agree on every value.
func TestDefaultsAreTheRouters(t *testing.T) {
	ns := newNamespace(t)
	if err := k8s.Create(context.Background(), newRouter(ns, "d", routingv1alpha1.RoutingSettings{})); err != nil {
		t.Fatal(err)
	}
	r := getRouter(t, ns, "d").Spec.Routing
	ip := nextIP()
	startRouter(t, ip)
	c := configOf(t, ip)
	want := map[string]any{"policy": r.Policy, "cache_threshold": *r.CacheThreshold,
		"cache_routing_prob": *r.CacheRoutingProb, "balance_abs_threshold": float64(*r.BalanceAbsThreshold),
		"balance_rel_threshold": *r.BalanceRelThreshold, "eviction_interval_secs": float64(*r.EvictionIntervalSeconds),
		"max_tree_size": float64(*r.MaxTreeSize), "cache_load_weight": *r.CacheLoadWeight,
		"cache_queue_weight": *r.CacheQueueWeight, "cache_miss_margin": float64(*r.CacheMissMargin),
		"load_decode_weight": *r.LoadDecodeWeight}
	for k, v := range want {
		got := c[k]
		if s, ok := got.(string); ok && k != "policy" { // 64-bit integers may print as strings
			var n float64
			fmt.Sscan(s, &n)
			got = n
		}
		if got != v {
			t.Errorf("default %s: CRD %v, router %v", k, v, c[k])
		}
	}
}

func TestRestartedRouterGetsItsListBack(t *testing.T) {
	f := newFleet(t, 2, 2, routingv1alpha1.RoutingSettings{CacheThreshold: ptr.To(0.3)})
	want := f.urls("worker-0", "worker-1")
	waitWorkers(t, 10*time.Second, want, f.routerIPs...)
	f.routers[1].kill()
	f.routers[1] = startRouter(t, f.routerIPs[1]) // same pod, a new process with nothing
	took := waitWorkers(t, 2*time.Second, want, f.routerIPs[1])
	t.Logf("router process restarted -> list back: %v", took)
	deadline := time.Now().Add(2 * time.Second)
	for configOf(t, f.routerIPs[1])["cache_threshold"] != 0.3 {
		if time.Now().After(deadline) {
			t.Fatalf("settings not back: %v", configOf(t, f.routerIPs[1]))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A new router pod gets the state at once too.
	ip := nextIP()
	startRouter(t, ip)
	createPod(t, f.ns, "router-new", routerLabels, ip, false)
	took = waitWorkers(t, 2*time.Second, want, ip)
	t.Logf("new router pod -> full list: %v", took)
}

func leaseHolder(t *testing.T, ns, name string) string {
	var l coordinationv1.Lease
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &l); err != nil {
		return ""
	}
	return ptr.Deref(l.Spec.HolderIdentity, "")
}

// waitLeader waits until operator p says it acquired the Lease.
func waitLeader(t *testing.T, p *proc, within time.Duration) {
	t.Helper()
	for t0 := time.Now(); !strings.Contains(p.out.String(), "successfully acquired lease"); {
		if time.Since(t0) > within {
			t.Fatalf("no takeover within %v:\n%s", within, p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLeaderFailover(t *testing.T) {
	f := &fleet{ns: newNamespace(t), workerIPs: map[string]string{}}
	for i := 0; i < 2; i++ {
		ip := nextIP()
		startRouter(t, ip)
		f.routerIPs = append(f.routerIPs, ip)
		createPod(t, f.ns, fmt.Sprintf("router-%d", i), routerLabels, ip, false)
	}
	f.addWorker(t, "worker-0")
	if err := k8s.Create(context.Background(), newRouter(f.ns, "sglang", routingv1alpha1.RoutingSettings{})); err != nil {
		t.Fatal(err)
	}
	lease := "e2e-operator"
	args := []string{"--leader-elect", "--leader-election-namespace", f.ns, "--leader-election-id", lease,
		"--leader-elect-lease-duration", "4s", "--leader-elect-renew-deadline", "3s",
		"--leader-elect-retry-period", "500ms"}
	a, b := startOperator(t, args...), startOperator(t, args...)
	waitWorkers(t, 15*time.Second, f.urls("worker-0"), f.routerIPs...)
	var holder string
	for deadline := time.Now().Add(10 * time.Second); holder == "" && time.Now().Before(deadline); {
		holder = leaseHolder(t, f.ns, lease)
		time.Sleep(50 * time.Millisecond)
	}
	leader, follower := a, b
	if !strings.Contains(b.out.String(), "successfully acquired lease") {
		if !strings.Contains(a.out.String(), "successfully acquired lease") {
			t.Fatalf("no leader: lease holder %q\n%s\n%s", holder, a.out.String(), b.out.String())
		}
	} else {
		leader, follower = b, a
	}

	// The leader stops (SIGTERM: it releases the Lease); the other takes over.
	t0 := time.Now()
	leader.stop()
	waitLeader(t, follower, 10*time.Second)
	t.Logf("graceful stop of the leader -> the other replica leads: %v", time.Since(t0))
	f.addWorker(t, "worker-1")
	took := waitWorkers(t, 2*time.Second, f.urls("worker-0", "worker-1"), f.routerIPs...)
	t.Logf("the new leader syncs a new worker in %v", took)

	// A leader that dies without releasing: a new replica waits out the lease.
	c := startOperator(t, args...)
	t0 = time.Now()
	follower.kill()
	waitLeader(t, c, 20*time.Second)
	t.Logf("leader killed (no release) -> another leads: %v (lease duration 4 s)", time.Since(t0))
	setReady(t, f.ns, "worker-0", false)
	waitWorkers(t, 2*time.Second, f.urls("worker-1"), f.routerIPs...)
}

func TestInvalidResourcesAreRejected(t *testing.T) {
	ns := newNamespace(t)
	cases := []struct {
		name   string
		mutate func(*routingv1alpha1.SGLangRouter)
		want   string
	}{
		{"threshold", func(s *routingv1alpha1.SGLangRouter) { s.Spec.Routing.CacheThreshold = ptr.To(1.5) },
			"spec.routing.cacheThreshold: Invalid value: 1.5: spec.routing.cacheThreshold in body should be less than or equal to 1"},
		{"policy", func(s *routingv1alpha1.SGLangRouter) { s.Spec.Routing.Policy = "fastest" },
			`spec.routing.policy: Unsupported value: "fastest"`},
		{"empty-selector", func(s *routingv1alpha1.SGLangRouter) { s.Spec.Workers.Selector = metav1.LabelSelector{} },
			"selector must not be empty"},
		{"port", func(s *routingv1alpha1.SGLangRouter) { s.Spec.Workers.Port = intstr.FromInt32(70000) },
			"port must be 1-65535 or a container port name"},
		{"port-name", func(s *routingv1alpha1.SGLangRouter) { s.Spec.Workers.Port = intstr.FromString("Not_A_Name") },
			"port must be 1-65535 or a container port name"},
		{"rel-threshold", func(s *routingv1alpha1.SGLangRouter) { s.Spec.Routing.BalanceRelThreshold = ptr.To(0.5) },
			"should be greater than or equal to 1"},
		{"miss-margin", func(s *routingv1alpha1.SGLangRouter) { s.Spec.Routing.CacheMissMargin = ptr.To[int64](-1) },
			"spec.routing.cacheMissMargin in body should be greater than or equal to 0"},
		{"decode-weight", func(s *routingv1alpha1.SGLangRouter) { s.Spec.Routing.LoadDecodeWeight = ptr.To(1001.0) },
			"spec.routing.loadDecodeWeight in body should be less than or equal to 1000"},
		{"queue-timeout", func(s *routingv1alpha1.SGLangRouter) { s.Spec.Routing.QueueTimeoutSeconds = ptr.To[int64](0) },
			"spec.routing.queueTimeoutSeconds in body should be greater than or equal to 1"},
		{"per-worker", func(s *routingv1alpha1.SGLangRouter) {
			s.Spec.Routing.MaxConcurrentPerWorker = ptr.To[int64](-4)
		}, "spec.routing.maxConcurrentPerWorker in body should be greater than or equal to 0"},
		{"admin-port", func(s *routingv1alpha1.SGLangRouter) { s.Spec.Routers.AdminPort = 70000 },
			"should be less than or equal to 65535"},
		{"sync-group", func(s *routingv1alpha1.SGLangRouter) {
			s.Spec.Sync = &routingv1alpha1.SyncSpec{NATSURLs: []string{"nats://n:4222"}, Group: "two words"}
		}, "spec.sync.group in body should match"},
		{"sync-url", func(s *routingv1alpha1.SGLangRouter) {
			s.Spec.Sync = &routingv1alpha1.SyncSpec{NATSURLs: []string{"http://n:4222"}}
		}, "spec.sync.natsURLs[0] in body should match"},
		{"sync-url-credentials", func(s *routingv1alpha1.SGLangRouter) {
			s.Spec.Sync = &routingv1alpha1.SyncSpec{NATSURLs: []string{"nats://user:pw@n:4222"}}
		}, "spec.sync.natsURLs[0] in body should match"},
		{"sync-duplicate-url", func(s *routingv1alpha1.SGLangRouter) {
			s.Spec.Sync = &routingv1alpha1.SyncSpec{NATSURLs: []string{"nats://n:4222", "nats://n:4222"}}
		}, "Duplicate value"},
		{"sync-secret-without-urls", func(s *routingv1alpha1.SGLangRouter) {
			s.Spec.Sync = &routingv1alpha1.SyncSpec{TLSSecretName: "nats-tls"}
		}, "credentialsSecretRef and tlsSecretName need natsURLs"},
		{"no-workers", func(s *routingv1alpha1.SGLangRouter) { s.Spec.Workers = nil },
			"spec.workers or spec.workerPools must select the workers"},
		{"pool-bootstrap-on-decode", func(s *routingv1alpha1.SGLangRouter) {
			s.Spec.WorkerPools = []routingv1alpha1.WorkerPool{{Name: "d", Role: "decode",
				BootstrapPort: ptr.To[int32](8998), Selector: s.Spec.Workers.Selector, Port: s.Spec.Workers.Port}}
		}, "bootstrapPort is for prefill pools"},
		{"pool-bootstrap-on-default-role", func(s *routingv1alpha1.SGLangRouter) {
			s.Spec.WorkerPools = []routingv1alpha1.WorkerPool{{Name: "r", BootstrapPort: ptr.To[int32](8998),
				Selector: s.Spec.Workers.Selector, Port: s.Spec.Workers.Port}}
		}, "bootstrapPort is for prefill pools"},
		{"pool-bootstrap-range", func(s *routingv1alpha1.SGLangRouter) {
			s.Spec.WorkerPools = []routingv1alpha1.WorkerPool{{Name: "p", Role: "prefill",
				BootstrapPort: ptr.To[int32](70000), Selector: s.Spec.Workers.Selector, Port: s.Spec.Workers.Port}}
		}, "should be less than or equal to 65535"},
		{"pool-role", func(s *routingv1alpha1.SGLangRouter) {
			s.Spec.WorkerPools = []routingv1alpha1.WorkerPool{{Name: "p", Role: "mixed",
				Selector: s.Spec.Workers.Selector, Port: s.Spec.Workers.Port}}
		}, `Unsupported value: "mixed"`},
		{"pool-model", func(s *routingv1alpha1.SGLangRouter) {
			s.Spec.WorkerPools = []routingv1alpha1.WorkerPool{{Name: "p", ModelID: "two words",
				Selector: s.Spec.Workers.Selector, Port: s.Spec.Workers.Port}}
		}, "spec.workerPools[0].modelID in body should match"},
		{"pool-model-quote", func(s *routingv1alpha1.SGLangRouter) {
			s.Spec.WorkerPools = []routingv1alpha1.WorkerPool{{Name: "p", ModelID: `say"hi`,
				Selector: s.Spec.Workers.Selector, Port: s.Spec.Workers.Port}}
		}, "spec.workerPools[0].modelID in body should match"},
		{"pool-name", func(s *routingv1alpha1.SGLangRouter) {
			s.Spec.WorkerPools = []routingv1alpha1.WorkerPool{{Name: "Pool_1", Selector: s.Spec.Workers.Selector, Port: s.Spec.Workers.Port}}
		}, "spec.workerPools[0].name in body should match"},
		{"pool-named-workers", func(s *routingv1alpha1.SGLangRouter) {
			s.Spec.WorkerPools = []routingv1alpha1.WorkerPool{{Name: "workers", Selector: s.Spec.Workers.Selector, Port: s.Spec.Workers.Port}}
		}, "the pool name workers is spec.workers's"},
		{"pool-duplicate-name", func(s *routingv1alpha1.SGLangRouter) {
			p := routingv1alpha1.WorkerPool{Name: "p", Selector: s.Spec.Workers.Selector, Port: s.Spec.Workers.Port}
			s.Spec.WorkerPools = []routingv1alpha1.WorkerPool{p, p}
		}, "Duplicate value"},
		{"pool-port", func(s *routingv1alpha1.SGLangRouter) {
			s.Spec.WorkerPools = []routingv1alpha1.WorkerPool{{Name: "p", Selector: s.Spec.Workers.Selector,
				Port: intstr.FromInt32(70000)}}
		}, "port must be 1-65535 or a container port name"},
		{"pool-port-name", func(s *routingv1alpha1.SGLangRouter) {
			s.Spec.WorkerPools = []routingv1alpha1.WorkerPool{{Name: "p", Selector: s.Spec.Workers.Selector,
				Port: intstr.FromString("Not_A_Name")}}
		}, "port must be 1-65535 or a container port name"},
		{"pool-port-name-long", func(s *routingv1alpha1.SGLangRouter) {
			s.Spec.WorkerPools = []routingv1alpha1.WorkerPool{{Name: "p", Selector: s.Spec.Workers.Selector,
				Port: intstr.FromString("a-very-long-port-name")}}
		}, "spec.workerPools[0].port: Too long"},
		{"pool-empty-selector", func(s *routingv1alpha1.SGLangRouter) {
			s.Spec.WorkerPools = []routingv1alpha1.WorkerPool{{Name: "p", Port: intstr.FromInt32(8000)}}
		}, "selector must not be empty"},
	}
	for _, c := range cases {
		sr := newRouter(ns, "bad-"+c.name, routingv1alpha1.RoutingSettings{})
		c.mutate(sr)
		err := k8s.Create(context.Background(), sr)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: want an error with %q, got %v", c.name, c.want, err)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
}

func TestWrongTokenAndEmptySelectorShowInConditions(t *testing.T) {
	f := newFleet(t, 0, 1, routingv1alpha1.RoutingSettings{})
	// No worker matches: an empty list, a condition, and the router's 503.
	c := waitCondition(t, f.ns, "sglang", "Degraded", metav1.ConditionTrue, "NoReadyWorkers", 5*time.Second)
	t.Logf("no workers: %s", c.Message)
	if _, status, _ := generate(f.routerIPs[0]); status != 503 {
		t.Fatalf("router without workers answered %d, want 503", status)
	}
	// A wrong token: the gRPC status in a condition.
	var s corev1.Secret
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "admin-token"}, &s); err != nil {
		t.Fatal(err)
	}
	s.Data["token"] = []byte("not-the-token")
	if err := k8s.Update(context.Background(), &s); err != nil {
		t.Fatal(err)
	}
	c = waitCondition(t, f.ns, "sglang", "Degraded", metav1.ConditionTrue, "Unauthenticated", 5*time.Second)
	if !strings.Contains(c.Message, "router-0") || !strings.Contains(c.Message, "Unauthenticated") {
		t.Fatalf("message: %s", c.Message)
	}
	t.Logf("wrong token: %s", c.Message)
	waitCondition(t, f.ns, "sglang", "Ready", metav1.ConditionFalse, "Unauthenticated", 2*time.Second)
	// The right token again: back in sync.
	s.Data["token"] = []byte(adminToken)
	if err := k8s.Update(context.Background(), &s); err != nil {
		t.Fatal(err)
	}
	f.addWorker(t, "worker-0")
	waitCondition(t, f.ns, "sglang", "Ready", metav1.ConditionTrue, "Synced", 35*time.Second)
	// Rotation: the router's token file (the mounted Secret) changes and a
	// SIGHUP rereads it; until the Secret the operator reads follows, the
	// router refuses the operator's old token, then all is in sync again.
	f.routers[0].rotateToken(t, "rotated-token")
	waitCondition(t, f.ns, "sglang", "Degraded", metav1.ConditionTrue, "Unauthenticated", 5*time.Second)
	s.Data["token"] = []byte("rotated-token")
	if err := k8s.Update(context.Background(), &s); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, f.ns, "sglang", "Ready", metav1.ConditionTrue, "Synced", 10*time.Second)
	// The Secret goes away: nothing can be checked, and the condition names it.
	if err := k8s.Delete(context.Background(), &s); err != nil {
		t.Fatal(err)
	}
	c = waitCondition(t, f.ns, "sglang", "Degraded", metav1.ConditionTrue, "AdminCredentialsUnavailable", 5*time.Second)
	waitCondition(t, f.ns, "sglang", "WorkersSynced", metav1.ConditionFalse, "ReplicasOutOfSync", 2*time.Second)
	t.Logf("token Secret deleted: %s", c.Message)
}

// Every manifest a user applies is valid for this API server.
func TestManifestsDryRun(t *testing.T) {
	kubectl := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl")
	root := filepath.Join("..", "..", "..")
	secrets := exec.Command(filepath.Join(root, "kubernetes", "make-secrets.sh"))
	if out, err := secrets.CombinedOutput(); err != nil {
		t.Fatalf("make-secrets.sh: %v\n%s", err, out)
	}
	// Namespaces must exist for a server-side dry run of the objects in them.
	for _, ns := range []string{"sglang", "sglang-router-operator-system"} {
		k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	for _, dir := range []string{"kubernetes", "operator/config/default", "operator/config/samples"} {
		args := []string{"--kubeconfig", kubeconfig, "apply", "--dry-run=server", "-k", filepath.Join(root, dir)}
		if dir == "operator/config/samples" {
			args = append(args, "-n", "sglang")
		}
		out, err := exec.Command(kubectl, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl apply --dry-run=server -k %s: %v\n%s", dir, err, out)
		}
		if dir == "kubernetes" {
			for _, want := range []string{"deployment.apps/sglang-nats created", "service/sglang-nats created",
				"secret/sglang-nats-token created"} {
				if !strings.Contains(string(out), want) {
					t.Fatalf("kubectl apply --dry-run=server -k %s: no %q in\n%s", dir, want, out)
				}
			}
		}
		t.Logf("%s:\n%s", dir, out)
	}
	// The worker pools sample, beside the samples' kustomization (see its comment).
	pools := filepath.Join(root, "operator", "config", "samples", "routing_v1alpha1_sglangrouter_pools.yaml")
	out, err := exec.Command(kubectl, "--kubeconfig", kubeconfig, "apply", "--dry-run=server", "-f", pools, "-n",
		"sglang").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "sglangrouter.routing.sglang-router.dev/sglang-pools created") {
		t.Fatalf("kubectl apply --dry-run=server -f %s: %v\n%s", pools, err, out)
	}
}

package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	routingv1alpha1 "sglang-router.dev/operator/api/v1alpha1"
	"sglang-router.dev/operator/internal/admin"
)

// routerList reads a router's workers through its admin API: "URL role
// bootstrap model" lines, sorted (bootstrap "-" when unset, model "-" when
// not known).
func routerList(ip string, pool *admin.Pool) ([]string, error) {
	c, err := pool.Get(admin.Target{Address: ip + ":30001", Token: adminToken})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ws, err := c.ListWorkers(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, w := range ws {
		port, model := "-", "-"
		if w.BootstrapPort != nil {
			port = fmt.Sprint(w.GetBootstrapPort())
		}
		if w.ModelId != nil {
			model = w.GetModelId()
		}
		role := strings.ToLower(strings.TrimPrefix(w.GetRole().String(), "WORKER_ROLE_"))
		out = append(out, fmt.Sprintf("%s %s %s %s", w.GetUrl(), role, port, model))
	}
	sort.Strings(out)
	return out, nil
}

// waitList waits until every router lists exactly want (routerList lines).
func waitList(t *testing.T, within time.Duration, want []string, pool *admin.Pool, ips ...string) time.Duration {
	t.Helper()
	sort.Strings(want)
	t0 := time.Now()
	var last []string
	var lastErr error
	for time.Since(t0) < within {
		ok := true
		for _, ip := range ips {
			got, err := routerList(ip, pool)
			if err != nil || strings.Join(got, "\n") != strings.Join(want, "\n") {
				ok, last, lastErr = false, got, err
				break
			}
		}
		if ok {
			return time.Since(t0)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("routers %v did not list\n  %s\nwithin %v; last seen (%v)\n  %s", ips, strings.Join(want, "\n  "),
		within, lastErr, strings.Join(last, "\n  "))
	return 0
}

func setAnnotation(t *testing.T, ns, name, key, value string) {
	t.Helper()
	var p corev1.Pod
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &p); err != nil {
		t.Fatal(err)
	}
	orig := p.DeepCopy()
	if p.Annotations == nil {
		p.Annotations = map[string]string{}
	}
	p.Annotations[key] = value
	if err := k8s.Patch(context.Background(), &p, client.MergeFrom(orig)); err != nil {
		t.Fatalf("annotate pod %s: %v", name, err)
	}
}

func selectApp(app string) metav1.LabelSelector {
	return metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
}

// Worker pools: a disaggregated model (prefill and decode pools) beside a
// model served whole, and spec.workers beside them; every router gets each
// pod with its pool's role, bootstrap port (the pod's annotation, else the
// spec's) and model, and follows changes.
func TestWorkerPoolsReachEveryRouter(t *testing.T) {
	ns := newNamespace(t)
	var routerIPs []string
	for i := 0; i < 2; i++ {
		ip := nextIP()
		startRouter(t, ip)
		createPod(t, ns, fmt.Sprintf("router-%d", i), routerLabels, ip, false)
		routerIPs = append(routerIPs, ip)
	}
	// The worker pods need no process: the routers list what they are given.
	ips := map[string]string{}
	pod := func(name, app string) {
		ips[name] = nextIP()
		createPod(t, ns, name, map[string]string{"app": app}, ips[name], true)
	}
	pod("prefill-0", "llama-prefill")
	pod("prefill-1", "llama-prefill")
	setAnnotation(t, ns, "prefill-0", routingv1alpha1.AnnotationBootstrapPort, "7000")
	pod("decode-0", "llama-decode")
	pod("qwen-0", "qwen")
	pod("plain-0", "plain")
	sr := newRouter(ns, "sglang", routingv1alpha1.RoutingSettings{})
	http := intstr.FromString("http")
	sr.Spec.Workers = &routingv1alpha1.WorkerSelection{Selector: selectApp("plain"), Port: http}
	sr.Spec.WorkerPools = []routingv1alpha1.WorkerPool{
		{Name: "llama-prefill", Role: "prefill", ModelID: "org/llama-8b", BootstrapPort: ptr.To[int32](8998),
			Selector: selectApp("llama-prefill"), Port: http},
		{Name: "llama-decode", Role: "decode", ModelID: "org/llama-8b", Selector: selectApp("llama-decode"),
			Port: http},
		{Name: "qwen", ModelID: "qwen-7b", Selector: selectApp("qwen"), Port: http}, // role: the default, regular
	}
	if err := k8s.Create(context.Background(), sr); err != nil {
		t.Fatalf("create SGLangRouter: %v", err)
	}
	startOperator(t)
	url := func(name string) string { return "http://" + ips[name] + ":8000" }
	want := []string{
		url("prefill-0") + " prefill 7000 org/llama-8b", // the annotation wins
		url("prefill-1") + " prefill 8998 org/llama-8b", // the spec's port
		url("decode-0") + " decode - org/llama-8b",
		url("qwen-0") + " regular - qwen-7b",
		url("plain-0") + " regular - -", // spec.workers: the model is discovered
	}
	pool := admin.NewPool()
	t.Cleanup(func() { pool.Retain(nil) })
	took := waitList(t, 10*time.Second, want, pool, routerIPs...)
	t.Logf("operator start -> both routers hold 5 workers of 4 pools: %v", took)
	waitCondition(t, ns, "sglang", "Ready", metav1.ConditionTrue, "Synced", 5*time.Second)
	cur := getRouter(t, ns, "sglang")
	pools := map[string]int32{}
	for _, p := range cur.Status.WorkerPools {
		pools[p.Name+"/"+p.Role+"/"+p.ModelID] = p.ReadyWorkers
	}
	if cur.Status.ReadyWorkers != 5 || len(pools) != 4 || pools["workers/regular/"] != 1 ||
		pools["llama-prefill/prefill/org/llama-8b"] != 2 || pools["llama-decode/decode/org/llama-8b"] != 1 ||
		pools["qwen/regular/qwen-7b"] != 1 {
		t.Fatalf("status: %d ready, pools %v", cur.Status.ReadyWorkers, cur.Status.WorkerPools)
	}

	// A new annotation reaches the routers (the worker is registered anew
	// with that port); one that is not a port leaves the pod out, Degraded.
	setAnnotation(t, ns, "prefill-1", routingv1alpha1.AnnotationBootstrapPort, "7001")
	want[1] = url("prefill-1") + " prefill 7001 org/llama-8b"
	took = waitList(t, 2*time.Second, want, pool, routerIPs...)
	t.Logf("bootstrap-port annotation changed -> both routers: %v", took)
	setAnnotation(t, ns, "prefill-1", routingv1alpha1.AnnotationBootstrapPort, "high")
	waitList(t, 2*time.Second, append([]string{want[0]}, want[2:]...), pool, routerIPs...)
	c := waitCondition(t, ns, "sglang", "Degraded", metav1.ConditionTrue, "BootstrapPortInvalid", 5*time.Second)
	if !strings.Contains(c.Message, "prefill-1 (pool llama-prefill:") {
		t.Fatalf("message: %s", c.Message)
	}
	setAnnotation(t, ns, "prefill-1", routingv1alpha1.AnnotationBootstrapPort, "none")
	want[1] = url("prefill-1") + " prefill - org/llama-8b"
	waitList(t, 2*time.Second, want, pool, routerIPs...)

	// Without its decode half the model is Degraded (its requests fail).
	setReady(t, ns, "decode-0", false)
	waitList(t, 2*time.Second, append(append([]string{}, want[:2]...), want[3:]...), pool, routerIPs...)
	c = waitCondition(t, ns, "sglang", "Degraded", metav1.ConditionTrue, "DisaggregationIncomplete", 5*time.Second)
	if c.Message != "model org/llama-8b: 2 prefill and 0 decode workers ready (PD needs both)" {
		t.Fatalf("message: %s", c.Message)
	}
	setReady(t, ns, "decode-0", true)
	waitCondition(t, ns, "sglang", "Degraded", metav1.ConditionFalse, "AsExpected", 5*time.Second)

	// A router that lost its list (a restart) gets roles, ports and models back.
	ip := nextIP()
	startRouter(t, ip)
	createPod(t, ns, "router-new", routerLabels, ip, false)
	took = waitList(t, 2*time.Second, want, pool, ip)
	t.Logf("new router pod -> the pools' workers: %v", took)
	// sglctl shows what the operator pushed.
	out := sglctl(t, routerIPs[0], "workers", "list")
	if !strings.Contains(out, `"role":"WORKER_ROLE_PREFILL","bootstrap_port":7000,"model_id":"org/llama-8b"`) {
		t.Fatalf("sglctl workers list: %s", out)
	}
}

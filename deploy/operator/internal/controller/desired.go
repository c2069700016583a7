package controller

// desired.go: what every router replica should hold, computed from the
// cluster's pods and the resource's spec. Pure functions, unit-tested.

import (
	"fmt"
	"math"
	"net"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	routingv1alpha1 "sglang-router.dev/operator/api/v1alpha1"
	"sglang-router.dev/operator/internal/adminpb"
)

// podReady: the kubelet says Ready and the pod is not being deleted (a pod
// with a deletion timestamp leaves the routers at once, so that it drains
// before it dies).
func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.PodIP == "" || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podRunning: started and reachable, ready or not. Router replicas are
// targeted as soon as they run: a router reports ready only once it has a
// healthy worker, which it gets from us.
func podRunning(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.PodIP != "" && p.Status.Phase == corev1.PodRunning
}

// workerPort resolves a port number or a container port name on pod p.
func workerPort(p *corev1.Pod, port intstr.IntOrString) (int32, bool) {
	if port.Type == intstr.Int {
		return port.IntVal, port.IntVal > 0 && port.IntVal <= 65535
	}
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name == port.StrVal {
				return cp.ContainerPort, true
			}
		}
	}
	return 0, false
}

// WorkersPool is the name spec.workers goes by among the pools.
const WorkersPool = "workers"

// PoolsOf returns the resource's worker pools: spec.workers (a regular
// pool named "workers", model discovered) first, then spec.workerPools.
func PoolsOf(spec *routingv1alpha1.SGLangRouterSpec) []routingv1alpha1.WorkerPool {
	var pools []routingv1alpha1.WorkerPool
	if spec.Workers != nil {
		pools = append(pools, routingv1alpha1.WorkerPool{Name: WorkersPool, Role: routingv1alpha1.RoleRegular,
			Selector: spec.Workers.Selector, Port: spec.Workers.Port})
	}
	for _, p := range spec.WorkerPools {
		if p.Role == "" { // stored before the default existed
			p.Role = routingv1alpha1.RoleRegular
		}
		pools = append(pools, p)
	}
	return pools
}

// PoolPods is a pool and the pods its selector matches.
type PoolPods struct {
	Pool routingv1alpha1.WorkerPool
	Pods []corev1.Pod
}

// DesiredWorker is one worker every router replica should hold.
type DesiredWorker struct {
	URL           string
	Pool          string
	Role          string // regular, prefill, decode
	BootstrapPort *int32 // a prefill worker's KV bootstrap port; nil: none (null)
	ModelID       string // "": the routers discover it
}

// LeftOut is a ready worker pod that is not pushed, and why.
type LeftOut struct {
	Pod, Pool string
	Reason    string // a condition reason
	Why       string
}

// bootstrapPort is a prefill pod's KV bootstrap port: its annotation, else
// the pool's, else none; an annotation that is not a port (or "none") is
// an error.
func bootstrapPort(p *corev1.Pod, pool *routingv1alpha1.WorkerPool) (*int32, error) {
	v, ok := p.Annotations[routingv1alpha1.AnnotationBootstrapPort]
	if !ok {
		if pool.BootstrapPort != nil {
			return ptr.To(*pool.BootstrapPort), nil
		}
		return nil, nil
	}
	if v == "none" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("annotation %s=%q is not a port (1-65535) or none",
			routingv1alpha1.AnnotationBootstrapPort, v)
	}
	return ptr.To(int32(n)), nil
}

// DesiredWorkers returns the ready pods of every pool as workers, sorted by
// URL, and the ready pods left out: without the pool's port, with a bad
// bootstrap port annotation, or already in an earlier pool (a URL is one
// worker: it keeps the first pool's role and model).
func DesiredWorkers(pools []PoolPods) (workers []DesiredWorker, leftOut []LeftOut) {
	seen := map[string]string{} // URL -> pool
	for _, pp := range pools {
		pool := &pp.Pool
		for i := range pp.Pods {
			p := &pp.Pods[i]
			if !podReady(p) {
				continue
			}
			n, ok := workerPort(p, pool.Port)
			if !ok {
				leftOut = append(leftOut, LeftOut{Pod: p.Name, Pool: pool.Name, Reason: "WorkerPortNotFound",
					Why: fmt.Sprintf("no port %s", pool.Port.String())})
				continue
			}
			u := "http://" + net.JoinHostPort(p.Status.PodIP, strconv.Itoa(int(n)))
			if first, dup := seen[u]; dup {
				if first != pool.Name {
					leftOut = append(leftOut, LeftOut{Pod: p.Name, Pool: pool.Name, Reason: "WorkerInSeveralPools",
						Why: fmt.Sprintf("%s is in pool %s already", u, first)})
				}
				continue
			}
			w := DesiredWorker{URL: u, Pool: pool.Name, Role: pool.Role, ModelID: pool.ModelID}
			if pool.Role == routingv1alpha1.RolePrefill {
				port, err := bootstrapPort(p, pool)
				if err != nil {
					leftOut = append(leftOut, LeftOut{Pod: p.Name, Pool: pool.Name, Reason: "BootstrapPortInvalid",
						Why: err.Error()})
					continue
				}
				w.BootstrapPort = port
			}
			seen[u] = pool.Name
			workers = append(workers, w)
		}
	}
	sort.Slice(workers, func(i, j int) bool { return workers[i].URL < workers[j].URL })
	sort.Slice(leftOut, func(i, j int) bool {
		return leftOut[i].Pool+"/"+leftOut[i].Pod < leftOut[j].Pool+"/"+leftOut[j].Pod
	})
	return workers, leftOut
}

// URLs are the workers' URLs, in their order.
func URLs(ws []DesiredWorker) []string {
	out := make([]string, 0, len(ws))
	for _, w := range ws {
		out = append(out, w.URL)
	}
	return out
}

var roles = map[string]adminpb.WorkerRole{
	routingv1alpha1.RoleRegular: adminpb.WorkerRole_WORKER_ROLE_REGULAR,
	routingv1alpha1.RolePrefill: adminpb.WorkerRole_WORKER_ROLE_PREFILL,
	routingv1alpha1.RoleDecode:  adminpb.WorkerRole_WORKER_ROLE_DECODE,
}

// WorkersRequest is the SetWorkers request for ws: regular workers without
// a model as urls (what every router version reads), the others as
// WorkerSpecs with their role, bootstrap port and model.
func WorkersRequest(ws []DesiredWorker) *adminpb.SetWorkersRequest {
	req := &adminpb.SetWorkersRequest{}
	for _, w := range ws {
		if w.Role == routingv1alpha1.RoleRegular && w.ModelID == "" {
			req.Urls = append(req.Urls, w.URL)
			continue
		}
		spec := &adminpb.WorkerSpec{Url: ptr.To(w.URL), Role: roles[w.Role].Enum(), BootstrapPort: w.BootstrapPort}
		if w.ModelID != "" {
			spec.ModelId = ptr.To(w.ModelID)
		}
		req.Workers = append(req.Workers, spec)
	}
	return req
}

// WorkersMatch: the replica lists exactly the wanted workers, each with its
// role and bootstrap port, and with its model where the pool names one (a
// pool without one leaves the model to the router's discovery). A router
// that reports no role has regular workers only.
func WorkersMatch(want []DesiredWorker, have []*adminpb.Worker) bool {
	if len(want) != len(have) {
		return false
	}
	byURL := make(map[string]*adminpb.Worker, len(have))
	for _, h := range have {
		byURL[h.GetUrl()] = h
	}
	for _, w := range want {
		h := byURL[w.URL]
		if h == nil {
			return false
		}
		role := h.GetRole()
		if role == adminpb.WorkerRole_WORKER_ROLE_UNSPECIFIED {
			role = adminpb.WorkerRole_WORKER_ROLE_REGULAR
		}
		if role != roles[w.Role] || (w.ModelID != "" && h.GetModelId() != w.ModelID) {
			return false
		}
		if (w.BootstrapPort == nil) != (h.BootstrapPort == nil) ||
			(w.BootstrapPort != nil && *w.BootstrapPort != h.GetBootstrapPort()) {
			return false
		}
	}
	return true
}

// RouterTarget is one router replica to keep in sync.
type RouterTarget struct {
	Pod     string
	UID     types.UID
	Address string // pod IP and admin port
}

// RouterTargets returns the running router pods, by name.
func RouterTargets(pods []corev1.Pod, adminPort int32) []RouterTarget {
	var out []RouterTarget
	for i := range pods {
		p := &pods[i]
		if !podRunning(p) {
			continue
		}
		out = append(out, RouterTarget{Pod: p.Name, UID: p.UID,
			Address: net.JoinHostPort(p.Status.PodIP, strconv.Itoa(int(adminPort)))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pod < out[j].Pod })
	return out
}

// DesiredConfig turns the routing settings into the admin API's message.
// The API server fills the defaults; a field still unset (an object stored
// before a default existed) is left out, so the router keeps its own.
func DesiredConfig(s routingv1alpha1.RoutingSettings) *adminpb.RouterConfig {
	cfg := &adminpb.RouterConfig{
		CacheThreshold:       s.CacheThreshold,
		CacheRoutingProb:     s.CacheRoutingProb,
		BalanceAbsThreshold:  s.BalanceAbsThreshold,
		BalanceRelThreshold:  s.BalanceRelThreshold,
		EvictionIntervalSecs: s.EvictionIntervalSeconds,
		MaxTreeSize:          s.MaxTreeSize,
		CacheLoadWeight:      s.CacheLoadWeight,
		CacheQueueWeight:     s.CacheQueueWeight,
		CacheMissMargin:      s.CacheMissMargin,
		LoadDecodeWeight:     s.LoadDecodeWeight,
		// No CRD default: unset, the router keeps its command line's.
		MaxConcurrentRequests:  s.MaxConcurrentRequests,
		MaxConcurrentPerWorker: s.MaxConcurrentPerWorker,
		QueueSize:              s.QueueSize,
		QueueTimeoutSecs:       s.QueueTimeoutSeconds,
	}
	if s.Policy != "" {
		cfg.Policy = ptr.To(s.Policy)
	}
	return cfg
}

// ConfigMatches: every field set in want has the same value in got.
func ConfigMatches(want, got *adminpb.RouterConfig) bool {
	if got == nil {
		return false
	}
	eqS := func(a, b *string) bool { return a == nil || (b != nil && *a == *b) }
	eqI := func(a, b *int64) bool { return a == nil || (b != nil && *a == *b) }
	eqF := func(a, b *float64) bool {
		return a == nil || (b != nil && math.Abs(*a-*b) <= 1e-9*math.Max(1, math.Abs(*a)))
	}
	return eqS(want.Policy, got.Policy) && eqF(want.CacheThreshold, got.CacheThreshold) &&
		eqF(want.CacheRoutingProb, got.CacheRoutingProb) && eqI(want.BalanceAbsThreshold, got.BalanceAbsThreshold) &&
		eqF(want.BalanceRelThreshold, got.BalanceRelThreshold) &&
		eqI(want.EvictionIntervalSecs, got.EvictionIntervalSecs) && eqI(want.MaxTreeSize, got.MaxTreeSize) &&
		eqF(want.CacheLoadWeight, got.CacheLoadWeight) && eqF(want.CacheQueueWeight, got.CacheQueueWeight) &&
		eqI(want.CacheMissMargin, got.CacheMissMargin) && eqF(want.LoadDecodeWeight, got.LoadDecodeWeight) &&
		eqI(want.MaxConcurrentRequests, got.MaxConcurrentRequests) &&
		eqI(want.MaxConcurrentPerWorker, got.MaxConcurrentPerWorker) && eqI(want.QueueSize, got.QueueSize) &&
		eqI(want.QueueTimeoutSecs, got.QueueTimeoutSecs)
}

// SameWorkers: two sorted string lists are equal.
func SameWorkers(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// describeConfig is a one-line summary for events.
func describeConfig(c *adminpb.RouterConfig) string {
	return fmt.Sprintf("policy=%s cacheThreshold=%g cacheRoutingProb=%g", c.GetPolicy(), c.GetCacheThreshold(),
		c.GetCacheRoutingProb())
}

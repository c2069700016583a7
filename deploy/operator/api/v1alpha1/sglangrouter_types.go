package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The defaults below are the router's own (common/config.c in the router's
// source, the single source of truth; `sglang-router --help` prints them).
// The operator's envtest suite checks that a router started without flags
// reports exactly these values.

// SGLangRouterSpec says which pods are workers, which are router replicas,
// and how the routers should route.
// +kubebuilder:validation:XValidation:rule="has(self.workers) || (has(self.workerPools) && size(self.workerPools) > 0)",message="spec.workers or spec.workerPools must select the workers"
// +kubebuilder:validation:XValidation:rule="!has(self.workers) || !has(self.workerPools) || self.workerPools.all(p, p.name != 'workers')",message="the pool name workers is spec.workers's: name the pool otherwise"
type SGLangRouterSpec struct {
	// Workers are SGLang worker pods traffic is spread over: one pool of
	// regular workers whose model the routers discover (named "workers" in
	// the status). Give it, WorkerPools, or both.
	// +optional
	Workers *WorkerSelection `json:"workers,omitempty"`

	// WorkerPools are groups of worker pods, each with its model and its
	// role: whole (regular) servers, or the prefill and decode halves of a
	// disaggregated fleet. Every router replica gets the ready pods of all
	// pools (and of spec.workers); a pod that two pools select stays in the
	// first.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	WorkerPools []WorkerPool `json:"workerPools,omitempty"`

	// Routers are the router replicas (pods running sglang-router with its
	// admin API on) that receive the worker list and settings.
	Routers RouterSelection `json:"routers"`

	// Routing is what every router replica runs with.
	// +optional
	// +kubebuilder:default={}
	Routing RoutingSettings `json:"routing,omitempty"`

	// Sync, when it names NATS servers, has the router replicas share their
	// cache view and load over NATS (replica sync): the operator pushes it
	// to every replica (the admin API's SetSync). Absent or without
	// natsURLs, the operator leaves the replicas' sync as their --sync-*
	// flags set it.
	// +optional
	Sync *SyncSpec `json:"sync,omitempty"`
}

// WorkerSelection picks the worker pods in the resource's namespace.
type WorkerSelection struct {
	// Selector matches the worker pods' labels; it must not be empty.
	// +kubebuilder:validation:XValidation:rule="(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)",message="selector must not be empty (it would match every pod in the namespace)"
	Selector metav1.LabelSelector `json:"selector"`

	// Port is the worker's HTTP port: a number, or the name of a container
	// port of the worker pods.
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == string ? self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && size(self) <= 15 : (self >= 1 && self <= 65535)",message="port must be 1-65535 or a container port name (IANA_SVC_NAME)"
	Port intstr.IntOrString `json:"port"`
}

// The roles of a worker pool (the router's --worker-urls, --prefill, --decode).
const (
	RoleRegular = "regular"
	RolePrefill = "prefill"
	RoleDecode  = "decode"
)

// AnnotationBootstrapPort on a prefill pod names its KV bootstrap port (the
// annotation SGLang's router reads in service discovery).
const AnnotationBootstrapPort = "sglang.ai/bootstrap-port"

// WorkerPool is one group of worker pods: their model, their role, which
// pods and which port.
// +kubebuilder:validation:XValidation:rule="!has(self.bootstrapPort) || self.role == 'prefill'",message="bootstrapPort is for prefill pools"
type WorkerPool struct {
	// Name identifies the pool in the status.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// ModelID is the model the pool's workers serve, as requests name it
	// in "model"; the routers pin it (their model discovery leaves it).
	// Unset: the routers discover it from each worker.
	// +kubebuilder:validation:Pattern=`^[!#-\[\]-~]+$`
	// +kubebuilder:validation:MaxLength=256
	// +optional
	ModelID string `json:"modelID,omitempty"`

	// Role: regular (whole servers), prefill or decode (the two halves of
	// a disaggregated fleet; the routers then run in PD mode for the model).
	// +kubebuilder:validation:Enum=regular;prefill;decode
	// +kubebuilder:default=regular
	// +optional
	Role string `json:"role,omitempty"`

	// BootstrapPort (prefill pools only) is the KV bootstrap port of pods
	// without the sglang.ai/bootstrap-port annotation, which takes
	// precedence. Neither: none (the routers send null).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	BootstrapPort *int32 `json:"bootstrapPort,omitempty"`

	// Selector matches the pool's pods by label; it must not be empty.
	// +kubebuilder:validation:XValidation:rule="(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)",message="selector must not be empty (it would match every pod in the namespace)"
	Selector metav1.LabelSelector `json:"selector"`

	// Port is the workers' HTTP port: a number, or the name of a container
	// port of the pool's pods (a pod without it is left out, reported in
	// the Degraded condition). The length bound keeps the rule's cost, per
	// pool, within the API server's validation budget.
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:XValidation:rule="type(self) == string ? self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') : (self >= 1 && self <= 65535)",message="port must be 1-65535 or a container port name (IANA_SVC_NAME)"
	Port intstr.IntOrString `json:"port"`
}

// RouterSelection picks the router pods and says how to reach their admin API.
type RouterSelection struct {
	// Selector matches the router pods' labels; it must not be empty.
	// +kubebuilder:validation:XValidation:rule="(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)",message="selector must not be empty (it would match every pod in the namespace)"
	Selector metav1.LabelSelector `json:"selector"`

	// AdminPort is the router's gRPC admin port (--admin-port).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +kubebuilder:default=30001
	// +optional
	AdminPort int32 `json:"adminPort,omitempty"`

	// AdminTokenSecretRef names a Secret key holding the bearer token the
	// routers expect (--admin-token / --admin-token-file).
	// +optional
	AdminTokenSecretRef *SecretKeyReference `json:"adminTokenSecretRef,omitempty"`

	// TLS, when set, makes the operator reach the admin API over TLS.
	// +optional
	TLS *AdminTLS `json:"tls,omitempty"`
}

// SecretKeyReference is one key of a Secret in the resource's namespace.
type SecretKeyReference struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Key within the Secret.
	// +kubebuilder:default=token
	// +optional
	Key string `json:"key,omitempty"`
}

// AdminTLS is how the operator verifies the routers' admin certificate and,
// for mutual TLS, which client certificate it presents.
type AdminTLS struct {
	// SecretName names a Secret with `ca.crt` (the CA that signed the
	// routers' admin certificates) and, for mutual TLS, `tls.crt` and
	// `tls.key` (the operator's client certificate).
	// +kubebuilder:validation:MinLength=1
	SecretName string `json:"secretName"`
	// ServerName is the name the routers' certificates must carry
	// (default: the pod IP).
	// +optional
	ServerName string `json:"serverName,omitempty"`
}

// SyncSpec is how the router replicas join each other over NATS (the
// routers' --sync-* settings).
// +kubebuilder:validation:XValidation:rule="(has(self.natsURLs) && size(self.natsURLs) > 0) || (!has(self.credentialsSecretRef) && !has(self.tlsSecretName))",message="credentialsSecretRef and tlsSecretName need natsURLs"
type SyncSpec struct {
	// NATSURLs are the NATS servers, nats://host:port or tls://host:port
	// (credentials go in CredentialsSecretRef, not in the URL). Empty: the
	// operator does not manage sync.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=256
	// +kubebuilder:validation:items:Pattern=`^(nats|tls)://[^\s/@?#]+/?$`
	NATSURLs []string `json:"natsURLs,omitempty"`

	// Group: the replicas that route as one share a group name
	// (--sync-group).
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]{1,64}$`
	// +kubebuilder:default=default
	// +optional
	Group string `json:"group,omitempty"`

	// CredentialsSecretRef names a Secret with the NATS credentials: key
	// `token`, or keys `user` and `password`.
	// +optional
	CredentialsSecretRef *LocalSecretReference `json:"credentialsSecretRef,omitempty"`

	// TLSSecretName names a Secret for TLS to NATS: `ca.crt` (the CA that
	// signed the server's certificate) and, for mutual TLS, `tls.crt` and
	// `tls.key` (the routers' client certificate), all PEM.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	TLSSecretName string `json:"tlsSecretName,omitempty"`
}

// LocalSecretReference names a Secret in the resource's namespace.
type LocalSecretReference struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// RoutingSettings are the router's runtime-tunable settings (the admin API's
// UpdateConfig). Unset fields take the router's defaults.
type RoutingSettings struct {
	// Policy picks the worker for each request.
	// +kubebuilder:validation:Enum=random;round_robin;shortest_queue;cache_aware;cache_cost
	// +kubebuilder:default=cache_aware
	// +optional
	Policy string `json:"policy,omitempty"`

	// CacheThreshold: the shortest matched share of a prompt that still
	// routes to the worker holding the match (--cache-threshold).
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1
	// +kubebuilder:default=0.5
	// +optional
	CacheThreshold *float64 `json:"cacheThreshold,omitempty"`

	// CacheRoutingProb: the probability of using cache-aware routing at all
	// (--cache-routing-prob).
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1
	// +kubebuilder:default=1
	// +optional
	CacheRoutingProb *float64 `json:"cacheRoutingProb,omitempty"`

	// BalanceAbsThreshold: a worker is overloaded, and cache_aware sends it
	// nothing, when it has more than this many requests in flight beyond
	// the idlest (--balance-abs-threshold).
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000000000
	// +kubebuilder:default=32
	// +optional
	BalanceAbsThreshold *int64 `json:"balanceAbsThreshold,omitempty"`

	// BalanceRelThreshold: ... and more than this many times the idlest's
	// (--balance-rel-threshold).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	// +kubebuilder:default=1.0001
	// +optional
	BalanceRelThreshold *float64 `json:"balanceRelThreshold,omitempty"`

	// EvictionIntervalSeconds: how often the approximate tree is trimmed to
	// MaxTreeSize (--eviction-interval).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=31536000
	// +kubebuilder:default=60
	// +optional
	EvictionIntervalSeconds *int64 `json:"evictionIntervalSeconds,omitempty"`

	// MaxTreeSize: text bytes the approximate tree keeps per worker
	// (--max-tree-size).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1099511627776
	// +kubebuilder:default=16777216
	// +optional
	MaxTreeSize *int64 `json:"maxTreeSize,omitempty"`

	// CacheLoadWeight: cache_cost's cost of stalling one request the worker
	// holds, per prompt to prefill (--cache-load-weight).
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=0.05
	// +optional
	CacheLoadWeight *float64 `json:"cacheLoadWeight,omitempty"`

	// CacheQueueWeight: cache_cost's cost of a token of work queued on the
	// worker, per prompt token (--cache-queue-weight).
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=0.125
	// +optional
	CacheQueueWeight *float64 `json:"cacheQueueWeight,omitempty"`

	// CacheMissMargin: cache_aware sends a cache miss to the smallest tree
	// among the workers holding at most this many requests more than the
	// least loaded (--cache-miss-margin). 0 is SGLang's router's rule (the
	// least loaded); the default, unbounded, is the seed's (smallest tree).
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000000000
	// +kubebuilder:default=1000000000
	// +optional
	CacheMissMargin *int64 `json:"cacheMissMargin,omitempty"`

	// LoadDecodeWeight: in the load model, the work of one token still to
	// generate, in prompt tokens to prefill (--load-decode-weight).
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	// +kubebuilder:default=1
	// +optional
	LoadDecodeWeight *float64 `json:"loadDecodeWeight,omitempty"`

	// The concurrency limit and its queue have no default here: unset, each
	// router keeps its own (its command line's); set, the operator pushes it
	// to every replica, which applies it at once.

	// MaxConcurrentRequests: requests each router replica proxies at once
	// before others queue (--max-concurrent-requests; 0: no limit).
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100000000
	// +optional
	MaxConcurrentRequests *int64 `json:"maxConcurrentRequests,omitempty"`

	// MaxConcurrentPerWorker: requests each replica gives one worker while
	// another has room, and admits per healthy worker, so the limit follows
	// the pools as they scale (--max-concurrent-per-worker; 0: no limit).
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000000
	// +optional
	MaxConcurrentPerWorker *int64 `json:"maxConcurrentPerWorker,omitempty"`

	// QueueSize: requests that may wait for a slot in each replica
	// (--queue-size; 429 beyond).
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100000000
	// +optional
	QueueSize *int64 `json:"queueSize,omitempty"`

	// QueueTimeoutSeconds: the longest wait for a slot (--queue-timeout-secs;
	// 408 after).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=86400
	// +optional
	QueueTimeoutSeconds *int64 `json:"queueTimeoutSeconds,omitempty"`
}

// Condition types of SGLangRouterStatus.Conditions.
const (
	// ConditionReady: workers and settings are on every router replica and
	// at least one worker is ready.
	ConditionReady = "Ready"
	// ConditionWorkersSynced: every router replica lists exactly the ready
	// workers, with their roles, bootstrap ports and models.
	ConditionWorkersSynced = "WorkersSynced"
	// ConditionConfigSynced: every router replica runs the routing settings.
	ConditionConfigSynced = "ConfigSynced"
	// ConditionSyncReady: every router replica is up on NATS (replica
	// sync). Only present while spec.sync names NATS servers.
	ConditionSyncReady = "SyncReady"
	// ConditionDegraded: something needs attention (an unreachable router,
	// a rejected token, no ready worker); the reason and message say what.
	ConditionDegraded = "Degraded"
)

// RouterReplicaStatus is the sync state of one router pod.
type RouterReplicaStatus struct {
	// Pod is the router pod's name.
	Pod string `json:"pod"`
	// Address is the admin API address used (pod IP and admin port).
	// +optional
	Address string `json:"address,omitempty"`
	// WorkersSynced: the replica lists exactly the ready workers.
	WorkersSynced bool `json:"workersSynced"`
	// ConfigSynced: the replica runs the routing settings.
	ConfigSynced bool `json:"configSynced"`
	// LastSyncTime is when the replica was last seen in sync.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`
	// Error is the last failure talking to the replica (gRPC status and
	// message), empty when the last call succeeded.
	// +optional
	Error string `json:"error,omitempty"`
	// InFlight is the replica's requests in flight at the last stats poll.
	// +optional
	InFlight *int64 `json:"inFlight,omitempty"`
	// TreeTextBytes is the text its approximate tree holds.
	// +optional
	TreeTextBytes *int64 `json:"treeTextBytes,omitempty"`
	// SyncState is the replica's replica sync state as it reports it: off,
	// connecting, up, down or refused (the NATS server turned the
	// credentials down); empty when unknown.
	// +optional
	SyncState string `json:"syncState,omitempty"`
	// SyncPeers is how many other replicas it hears from over NATS.
	// +optional
	SyncPeers *int32 `json:"syncPeers,omitempty"`
}

// WorkerPoolStatus is what one pool contributes.
type WorkerPoolStatus struct {
	Name string `json:"name"`
	// Role and ModelID as the spec says (ModelID empty: discovered).
	Role string `json:"role"`
	// +optional
	ModelID string `json:"modelID,omitempty"`
	// ReadyWorkers: its ready pods pushed to the routers.
	ReadyWorkers int32 `json:"readyWorkers"`
}

// StatsSummary adds up the replicas' stats (GetQueueStats, GetTreeStats).
type StatsSummary struct {
	// InFlight: requests in flight over all replicas.
	InFlight int64 `json:"inFlight"`
	// Queued: requests waiting for a worker over all replicas.
	Queued int64 `json:"queued"`
	// ConcurrencyLimit: requests all replicas proxy at once before others
	// queue, the sum of each one's limit in force (--max-concurrent-requests,
	// or --max-concurrent-per-worker times its healthy workers); 0 when a
	// replica has no limit.
	ConcurrencyLimit int64 `json:"concurrencyLimit"`
	// TreeTextBytes: text held by all replicas' approximate trees.
	TreeTextBytes int64 `json:"treeTextBytes"`
	// UpdatedAt is when the stats were read.
	UpdatedAt metav1.Time `json:"updatedAt"`
}

// SGLangRouterStatus is what the operator observed and did.
type SGLangRouterStatus struct {
	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, WorkersSynced, ConfigSynced, Degraded, and
	// SyncReady while spec.sync names NATS servers.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ReadyWorkers is the number of ready worker pods.
	ReadyWorkers int32 `json:"readyWorkers"`

	// Workers are the ready workers' URLs, as pushed to the routers.
	// +optional
	Workers []string `json:"workers,omitempty"`

	// WorkerPools: the ready workers of each pool (spec.workers is the pool
	// named "workers").
	// +optional
	// +listType=map
	// +listMapKey=name
	WorkerPools []WorkerPoolStatus `json:"workerPools,omitempty"`

	// SyncedRouters reads "synced/total" router replicas.
	// +optional
	SyncedRouters string `json:"syncedRouters,omitempty"`

	// RouterReplicas is the sync state of each router pod.
	// +optional
	// +listType=map
	// +listMapKey=pod
	RouterReplicas []RouterReplicaStatus `json:"routerReplicas,omitempty"`

	// Stats sums the replicas' stats, refreshed periodically.
	// +optional
	Stats *StatsSummary `json:"stats,omitempty"`
}

// SGLangRouter keeps every router replica's worker list and routing
// settings in step with the cluster.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sglr,categories=sglang
// +kubebuilder:printcolumn:name="Policy",type=string,JSONPath=`.spec.routing.policy`
// +kubebuilder:printcolumn:name="Workers",type=integer,JSONPath=`.status.readyWorkers`
// +kubebuilder:printcolumn:name="Routers",type=string,JSONPath=`.status.syncedRouters`,description="router replicas in sync / all"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Sync",type=string,JSONPath=`.status.conditions[?(@.type=="SyncReady")].status`,priority=1,description="every router replica up on NATS (spec.sync)"
// +kubebuilder:printcolumn:name="In-Flight",type=integer,JSONPath=`.status.stats.inFlight`,priority=1
// +kubebuilder:printcolumn:name="Tree-Bytes",type=integer,JSONPath=`.status.stats.treeTextBytes`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SGLangRouter struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   SGLangRouterSpec   `json:"spec"`
	Status SGLangRouterStatus `json:"status,omitempty"`
}

// SGLangRouterList is a list of SGLangRouters.
//
// +kubebuilder:object:root=true
type SGLangRouterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SGLangRouter `json:"items"`
}

func init() {
	SchemeBuilder.Register(&SGLangRouter{}, &SGLangRouterList{})
}

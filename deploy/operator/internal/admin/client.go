// Package admin talks to one router replica's gRPC admin API (the
// RouterAdmin service of the project's proto/): worker lists, routing
// settings, replica sync and stats. Connections are kept per replica address and
// credentials in a Pool, so a resync every second costs no handshakes.
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"sort"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"sglang-router.dev/operator/internal/adminpb"
)

// Target is one router replica's admin endpoint and the credentials it wants.
type Target struct {
	Address string      // host:port
	Token   string      // bearer token; empty for none
	TLS     *tls.Config // nil for plaintext
	// TLSVersion identifies the TLS material (e.g. the Secret's
	// resourceVersion) so that new certificates get a new connection.
	TLSVersion string
}

// Key identifies the credentials and address (the token only by a hash).
func (t Target) Key() string {
	h := sha256.Sum256([]byte(t.Token))
	return t.Address + "|" + hex.EncodeToString(h[:8]) + "|" + fmt.Sprint(t.TLS != nil) + "|" + t.TLSVersion
}

// Client is a connection to one replica.
type Client struct {
	conn  *grpc.ClientConn
	api   adminpb.RouterAdminClient
	token string
}

func (c *Client) ctx(ctx context.Context) context.Context {
	if c.token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.token)
}

// ListWorkers returns the replica's workers (URL, role, bootstrap port,
// model, health), sorted by URL.
func (c *Client) ListWorkers(ctx context.Context) ([]*adminpb.Worker, error) {
	resp, err := c.api.ListWorkers(c.ctx(ctx), &adminpb.ListWorkersRequest{})
	if err != nil {
		return nil, err
	}
	ws := resp.GetWorkers()
	sort.Slice(ws, func(i, j int) bool { return ws[i].GetUrl() < ws[j].GetUrl() })
	return ws, nil
}

// SetWorkers replaces the replica's worker list (all or none): urls and
// worker specs.
func (c *Client) SetWorkers(ctx context.Context, req *adminpb.SetWorkersRequest) error {
	_, err := c.api.SetWorkers(c.ctx(ctx), req)
	return err
}

// GetConfig returns the replica's routing settings.
func (c *Client) GetConfig(ctx context.Context) (*adminpb.RouterConfig, error) {
	resp, err := c.api.GetConfig(c.ctx(ctx), &adminpb.GetConfigRequest{})
	if err != nil {
		return nil, err
	}
	return resp.GetConfig(), nil
}

// UpdateConfig applies the fields set in cfg (all or none).
func (c *Client) UpdateConfig(ctx context.Context, cfg *adminpb.RouterConfig) error {
	_, err := c.api.UpdateConfig(c.ctx(ctx), &adminpb.UpdateConfigRequest{Config: cfg})
	return err
}

// GetSync returns the replica's replica sync status (never credentials).
func (c *Client) GetSync(ctx context.Context) (*adminpb.SyncStatus, error) {
	resp, err := c.api.GetSync(c.ctx(ctx), &adminpb.GetSyncRequest{})
	if err != nil {
		return nil, err
	}
	return resp.GetStatus(), nil
}

// SetSync replaces the replica's sync settings (the router leaves its NATS
// connection and joins the new one) and returns the status that follows.
func (c *Client) SetSync(ctx context.Context, s *adminpb.SyncSettings) (*adminpb.SyncStatus, error) {
	resp, err := c.api.SetSync(c.ctx(ctx), &adminpb.SetSyncRequest{Settings: s})
	if err != nil {
		return nil, err
	}
	return resp.GetStatus(), nil
}

// Stats are one replica's load and tree figures; ConcurrencyLimit is the
// limit in force (0: none).
type Stats struct {
	InFlight, Queued, TreeTextBytes, ConcurrencyLimit int64
}

// GetStats reads GetQueueStats and GetTreeStats.
func (c *Client) GetStats(ctx context.Context) (Stats, error) {
	q, err := c.api.GetQueueStats(c.ctx(ctx), &adminpb.GetQueueStatsRequest{})
	if err != nil {
		return Stats{}, err
	}
	t, err := c.api.GetTreeStats(c.ctx(ctx), &adminpb.GetTreeStatsRequest{})
	if err != nil {
		return Stats{}, err
	}
	return Stats{InFlight: q.GetInFlight(), Queued: q.GetQueued(), TreeTextBytes: int64(t.GetTotalTextBytes()),
		ConcurrencyLimit: q.GetConcurrencyLimit()}, nil
}

// Pool keeps one connection per target (address and credentials).
type Pool struct {
	mu      sync.Mutex
	clients map[string]*Client
	byAddr  map[string]string // address -> key of its current connection
}

// NewPool returns an empty pool.
func NewPool() *Pool {
	return &Pool{clients: map[string]*Client{}, byAddr: map[string]string{}}
}

// Get returns the connection for t, dialling lazily (gRPC connects on the
// first call and reconnects by itself). A target whose credentials changed
// replaces the address's old connection.
func (p *Pool) Get(t Target) (*Client, error) {
	k := t.Key()
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[k]; ok {
		return c, nil
	}
	creds := insecure.NewCredentials()
	if t.TLS != nil {
		creds = credentials.NewTLS(t.TLS)
	}
	conn, err := grpc.NewClient("passthrough:///"+t.Address, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, err
	}
	if old, ok := p.byAddr[t.Address]; ok {
		p.clients[old].conn.Close()
		delete(p.clients, old)
	}
	c := &Client{conn: conn, api: adminpb.NewRouterAdminClient(conn), token: t.Token}
	p.clients[k] = c
	p.byAddr[t.Address] = k
	return c, nil
}

// Retain closes every connection whose address is not in keep.
func (p *Pool) Retain(keep map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, k := range p.byAddr {
		if !keep[addr] {
			p.clients[k].conn.Close()
			delete(p.clients, k)
			delete(p.byAddr, addr)
		}
	}
}

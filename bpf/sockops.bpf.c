/*
 * sockops: follows captured connections through their life.
 *  - ACTIVE_ESTABLISHED (the pod's socket): move the original destination from the cookie to the
 *    4-tuple (the agent looks it up by the accepted socket's peer), join the sockhash, count it.
 *  - PASSIVE_ESTABLISHED (the agent's accepted socket, whose peer is a captured pod socket): join the
 *    sockhash so both directions are spliced by sk_msg.
 *  - STATE (TCP_CLOSE of a counted socket): count the close and the bytes, drop the entries.
 * Every branch starts from what connect4 recorded (nm_cookie_dst by cookie, or nm_orig_dst that
 * on_active derived from it), so sockops counts exactly the connections connect4 captured: in opt-in
 * mode that already means meshed pods only, with no cgroup check here. A pod taken out of the mesh
 * keeps its open connections; they are still followed to their close.
 */
#include "maps.h"

#ifndef BPF_TCP_CLOSE
#define BPF_TCP_CLOSE 7
#endif

static __always_inline void own_tuple(struct bpf_sock_ops *skops, struct nm_tuple *t)
{
	t->sip = skops->local_ip4;
	t->dip = skops->remote_ip4;
	t->sport = (__u16)skops->local_port;
	t->dport = nm_remote_port(skops->remote_port);
}

static __always_inline void on_active(struct bpf_sock_ops *skops)
{
	__u64 cookie = bpf_get_socket_cookie(skops);
	struct nm_conn *conn = bpf_map_lookup_elem(&nm_cookie_dst, &cookie);
	if (!conn)
		return;
	struct nm_svc_stats *st = nm_stats(conn->service_id);
	if (st)
		__sync_fetch_and_add(&st->opened, 1);
	/* Ask for state callbacks so the close (and the byte totals) are seen. */
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
	if (conn->mode != NM_MODE_PROXY)
		return;
	struct nm_tuple t = {};
	own_tuple(skops, &t);
	bpf_map_update_elem(&nm_orig_dst, &t, conn, BPF_ANY);
	if (bpf_sock_hash_update(skops, &nm_sockhash, &t, BPF_ANY) == 0)
		nm_global_inc(NM_G_SOCKHASH_ACTIVE);
	else
		nm_global_inc(NM_G_SOCKHASH_FAIL);
}

static __always_inline void on_passive(struct bpf_sock_ops *skops)
{
	struct nm_tuple peer = {
		.sip = skops->remote_ip4,
		.dip = skops->local_ip4,
		.sport = nm_remote_port(skops->remote_port),
		.dport = (__u16)skops->local_port,
	};
	if (!bpf_map_lookup_elem(&nm_orig_dst, &peer))
		return;
	struct nm_tuple t = {};
	own_tuple(skops, &t);
	if (bpf_sock_hash_update(skops, &nm_sockhash, &t, BPF_ANY) == 0)
		nm_global_inc(NM_G_SOCKHASH_PASSIVE);
	else
		nm_global_inc(NM_G_SOCKHASH_FAIL);
}

static __always_inline void on_close(struct bpf_sock_ops *skops)
{
	__u64 cookie = bpf_get_socket_cookie(skops);
	struct nm_conn *conn = bpf_map_lookup_elem(&nm_cookie_dst, &cookie);
	if (!conn)
		return;
	struct nm_svc_stats *st = nm_stats(conn->service_id);
	if (st) {
		__sync_fetch_and_add(&st->closed, 1);
		__sync_fetch_and_add(&st->bytes_sent, skops->bytes_acked);
		__sync_fetch_and_add(&st->bytes_received, skops->bytes_received);
	}
	if (conn->mode == NM_MODE_PROXY) {
		struct nm_tuple t = {};
		own_tuple(skops, &t);
		bpf_map_delete_elem(&nm_orig_dst, &t);
	}
	bpf_map_delete_elem(&nm_cookie_dst, &cookie);
}

SEC("sockops")
int nm_sockops(struct bpf_sock_ops *skops)
{
	if (skops->family != AF_INET)
		return 1;
	switch (skops->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		on_active(skops);
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		on_passive(skops);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (skops->args[1] == BPF_TCP_CLOSE)
			on_close(skops);
		break;
	}
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

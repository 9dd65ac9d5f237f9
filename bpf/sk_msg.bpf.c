/*
 * sk_msg: for a socket in nm_sockhash (a captured pod socket or the agent's side of it), hand each
 * message straight to the peer socket's receive queue. If the peer is not in the map yet (a race at
 * accept, or an agent outside the attach cgroup), the message takes the normal TCP path.
 */
#include "maps.h"

SEC("sk_msg")
int nm_sk_msg(struct sk_msg_md *msg)
{
	if (msg->family != AF_INET)
		return SK_PASS;
	struct nm_tuple own = {
		.sip = msg->local_ip4,
		.dip = msg->remote_ip4,
		.sport = (__u16)msg->local_port,
		.dport = nm_remote_port(msg->remote_port),
	};
	struct nm_tuple peer = { .sip = own.dip, .dip = own.sip, .sport = own.dport, .dport = own.sport };

	long verdict = bpf_msg_redirect_hash(msg, &nm_sockhash, &peer, BPF_F_INGRESS);
	if (verdict != SK_PASS) {
		nm_global_inc(NM_G_MSG_PASS);
		return SK_PASS;
	}
	nm_global_inc(NM_G_MSG_REDIRECT);

	/* Attribute the bytes: the pod side is keyed by its own tuple, the agent side by its peer's. */
	__u32 size = msg->size;
	struct nm_conn *conn = bpf_map_lookup_elem(&nm_orig_dst, &own);
	int from_client = conn != 0;
	if (!conn)
		conn = bpf_map_lookup_elem(&nm_orig_dst, &peer);
	if (!conn)
		return SK_PASS;
	struct nm_svc_stats *st = nm_stats(conn->service_id);
	if (st) {
		__sync_fetch_and_add(&st->spliced_bytes, size);
		if (from_client)
			__sync_fetch_and_add(&st->bytes_sent, size);
		else
			__sync_fetch_and_add(&st->bytes_received, size);
	}
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

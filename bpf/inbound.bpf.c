/*
 * cgroup_skb/ingress: PeerAuthentication STRICT, enforced in the kernel. A new TCP connection (a SYN
 * without ACK) to a local workload whose mode is STRICT is dropped unless it comes from a trusted source
 * (the node agent's delivery address, used for traffic that arrived over the mTLS tunnel or was proxied
 * by the agent). Established flows and the workload's own outbound connections are never touched, and
 * a mode change applies to the next connection without restarting anything.
 *
 * Opt-in mode: only a meshed pod is protected. The table is keyed by IP, and an IP of a pod outside the
 * mesh should not be in it, but the check here does not depend on that: the SYN has been matched to the
 * receiving socket (skb->sk, the listener), and the listener's cgroup ancestry must be meshed.
 */
#include "maps.h"

#define ETH_P_IP_BE 0x0008 /* htons(0x0800) */

struct iphdr_min {
	__u8 ver_ihl;
	__u8 tos;
	__u16 tot_len;
	__u16 id;
	__u16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__u16 check;
	__u32 saddr;
	__u32 daddr;
};

/* As connect4's walk, for the cgroup of the socket the packet was delivered to. */
static __always_inline int nm_skb_meshed(struct __sk_buff *skb)
{
	for (int level = 0; level < NM_MAX_CGROUP_DEPTH; level++) {
		__u64 id = bpf_skb_ancestor_cgroup_id(skb, level);
		if (id == 0)
			return 0;
		if (bpf_map_lookup_elem(&nm_meshed, &id))
			return 1;
	}
	return 0;
}

SEC("cgroup_skb/ingress")
int nm_inbound(struct __sk_buff *skb)
{
	if (skb->protocol != ETH_P_IP_BE)
		return 1;
	struct iphdr_min ip;
	if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
		return 1;
	if (ip.protocol != IPPROTO_TCP)
		return 1;
	__u32 ihl = (ip.ver_ihl & 0x0f) * 4;
	if (ihl < 20)
		return 1;
	/* TCP: ports at offset 0, flags byte at offset 13. */
	__u8 tcp[14];
	if (bpf_skb_load_bytes(skb, ihl, tcp, sizeof(tcp)))
		return 1;
	__u8 flags = tcp[13];
	if (!(flags & 0x02) || (flags & 0x10)) /* only SYN without ACK opens a connection */
		return 1;

	struct nm_inbound_key key = { .ip = ip.daddr, .port = (__u16)((tcp[2] << 8) | tcp[3]) };
	__u8 *mode = bpf_map_lookup_elem(&nm_inbound_mode, &key);
	if (!mode) {
		key.port = 0;
		mode = bpf_map_lookup_elem(&nm_inbound_mode, &key);
	}
	if (!mode || *mode != NM_MTLS_STRICT)
		return 1;
	if (bpf_map_lookup_elem(&nm_trusted_src, &ip.saddr))
		return 1;
	/* Last, so the walk is paid only by connections that would be dropped. */
	if (nm_opt_in() && !nm_skb_meshed(skb)) {
		nm_global_inc(NM_G_STRICT_NOT_MESHED);
		return 1;
	}
	nm_global_inc(NM_G_STRICT_DROP);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

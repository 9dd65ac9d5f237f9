/*
 * cgroup_skb/ingress: PeerAuthentication STRICT, enforced in the kernel. A new TCP connection (a SYN
 * without ACK) to a local workload whose mode is STRICT is dropped unless it comes from a trusted source
 * (the node agent's delivery address, used for traffic that arrived over the mTLS tunnel or was proxied
 * by the agent). Established flows and the workload's own outbound connections are never touched, and
 * a mode change applies to the next connection without restarting anything.
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
	nm_global_inc(NM_G_STRICT_DROP);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

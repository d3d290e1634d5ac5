/**
 * The doorbell file of a memif GSO link (native/dpdk/jr_nic.c jr_nic_link_bell): beside the
 * link's memif control socket, mapped by both NIC servers; removed with the socket when the
 * memif server's instance stops.
 */
export function linkBellPath(socket: string): string {
  return `${socket}.bell`;
}

class Unavailable {
  constructor() {
    throw new Error('WebRTC is not available in bt-actor tests (TCP peers only)');
  }
}
export const RTCPeerConnection = Unavailable;
export const RTCSessionDescription = Unavailable;
export const RTCIceCandidate = Unavailable;
export const RTCDataChannel = Unavailable;
export default { RTCPeerConnection, RTCSessionDescription, RTCIceCandidate, RTCDataChannel };

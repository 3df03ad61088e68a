package api

// StreamBytesInUse reports the bytes all streams' waiting events hold.
func (s *Server) StreamBytesInUse() int64 { return s.streamBytes.inUse() }

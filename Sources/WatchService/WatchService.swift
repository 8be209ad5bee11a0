// WatchService

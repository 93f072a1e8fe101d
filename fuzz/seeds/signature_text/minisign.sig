untrusted comment: signature from tauri secret key
RUSQvvA40wV+IkKOWtxMzdX8fPrOX1X2edSFPjXYfuDxYO26NAzrTIKttotv4pT3K8zb6wroCbCYMiz+nmDUMq/+yJKEGv/g2Ao=
trusted comment: timestamp:1795616095	file:artifact.bin	version:1.2.3
7u4EKK8ROfLpkGI/iwy3S/kovNd/MGFHS0und8R2zxbYPLDxGzFdyUohbS7M8TUwQJYSGNpF2oUd3xyJayyqDQ==

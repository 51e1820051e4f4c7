// ImageTarget: region lookup over Disk objects.
#include "src/replication/image_target.h"

namespace dynamicfs {

namespace {
constexpr uint64_t kRegionMask = (uint64_t{1} << ImageTarget::kRegionShift) - 1;
}  // namespace

Result<std::shared_ptr<ImageTarget>> ImageTarget::open_disk(const std::string& path,
                                                            bool writable) {
  return open_regions({{0, path}}, writable);
}

Result<std::shared_ptr<ImageTarget>> ImageTarget::open_regions(
    const std::map<uint32_t, std::string>& regions, bool writable) {
  auto t = std::make_shared<ImageTarget>();
  for (const auto& [index, path] : regions) {
    DFS_ASSIGN_OR_RETURN(auto d, writable ? Disk::open(path) : Disk::open_read_only(path));
    t->m_regions.emplace(index, std::move(d));
  }
  return t;
}

ImageTarget::Opener ImageTarget::regions_opener(std::map<uint32_t, std::string> regions) {
  return [regions = std::move(regions)](const std::string&, bool writable) {
    return open_regions(regions, writable);
  };
}

const Disk* ImageTarget::locate(uint64_t offset, uint64_t len, uint64_t* local) const {
  auto it = m_regions.find(static_cast<uint32_t>(offset >> kRegionShift));
  if (it == m_regions.end()) return nullptr;
  *local = offset & kRegionMask;
  // Past the file's end is left to the disk: a short read or write is EIO,
  // as on a plain disk.
  if (*local + len > kRegionMask + 1) return nullptr;
  return it->second.get();
}

uint64_t ImageTarget::region_size(uint32_t region) const {
  auto it = m_regions.find(region);
  return it == m_regions.end() ? 0 : it->second->size();
}

bool ImageTarget::contains(uint64_t offset, uint64_t len) const {
  uint64_t local = 0;
  const Disk* d = locate(offset, len, &local);
  return d != nullptr && local + len <= d->size();
}

std::string ImageTarget::describe(uint64_t offset) const {
  auto it = m_regions.find(static_cast<uint32_t>(offset >> kRegionShift));
  if (it == m_regions.end()) return "region " + std::to_string(offset >> kRegionShift) + " (none)";
  return it->second->path() + " at byte " + std::to_string(offset & kRegionMask);
}

Status ImageTarget::read_at(void* buf, size_t len, uint64_t offset) const {
  uint64_t local = 0;
  const Disk* d = locate(offset, len, &local);
  if (d == nullptr) return Status::error(EINVAL, "read outside the image: " + describe(offset));
  return d->read_at(buf, len, local);
}

Status ImageTarget::write_at(const void* buf, size_t len, uint64_t offset) const {
  uint64_t local = 0;
  const Disk* d = locate(offset, len, &local);
  if (d == nullptr) return Status::error(EINVAL, "write outside the image: " + describe(offset));
  return d->write_at(buf, len, local);
}

Status ImageTarget::writev_at(const struct iovec* iov, int iovcnt, uint64_t offset) const {
  uint64_t len = 0;
  for (int i = 0; i < iovcnt; ++i) len += iov[i].iov_len;
  uint64_t local = 0;
  const Disk* d = locate(offset, len, &local);
  if (d == nullptr) return Status::error(EINVAL, "write outside the image: " + describe(offset));
  return d->writev_at(iov, iovcnt, local);
}

Status ImageTarget::sync() const {
  for (const auto& [index, d] : m_regions) DFS_RETURN_IF_ERROR(d->sync());
  return Status::ok();
}

}  // namespace dynamicfs

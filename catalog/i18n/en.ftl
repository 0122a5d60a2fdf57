# English: the reference catalog. Every other language file has the same keys
# (a test checks it); a missing key falls back to this file.
language-name = English
decimal-separator = .
size-b = { $n } B
size-kib = { $n } KiB
size-mib = { $n } MiB
size-gib = { $n } GiB
size-tib = { $n } TiB
size-pib = { $n } PiB
month-1 = Jan
month-2 = Feb
month-3 = Mar
month-4 = Apr
month-5 = May
month-6 = Jun
month-7 = Jul
month-8 = Aug
month-9 = Sep
month-10 = Oct
month-11 = Nov
month-12 = Dec
date = { $month } { $day }, { $year }

search-placeholder = Search torrents
search-button = Search
nav-newest = Newest
nav-stats = Stats
nav-rss = RSS
footer-nojs = works without JavaScript
footer-api = API
footer-language = Language

title-newest = Newest torrents
title-search = Search: { $q }
title-stats = Statistics
filter-category = Category
filter-any = any
filter-min-size = Min size
filter-max-size = Max size
filter-from = From
filter-to = To
filter-sort = Sort
filter-apply = Apply
facet-category = Category
facet-resolution = Resolution
facet-year = Year
facet-all = all
sort-relevance = relevance
sort-newest = newest
sort-oldest = oldest
sort-size = size
sort-name = name
sort-seeders = seeders
sort-leechers = leechers
results-count = { $n ->
    [one] { $n } result
   *[other] { $n } results
}
results-count-about = { $n ->
    [one] about { $n } result
   *[other] about { $n } results
}
indexed-count = { $n ->
    [one] { $n } torrent indexed
   *[other] { $n } torrents indexed
}
empty = Nothing here yet.
col-name = Name
col-size = Size
col-files = Files
col-added = Added
col-seeders = S
col-seeders-title = seeders
col-leechers = L
col-leechers-title = leechers
magnet = magnet
magnet-title = magnet link
page-prev = ← previous
page-next = next →
page-of = page { $page } of { $pages }

detail-magnet = Magnet link
detail-download = Download .torrent
detail-hash = Info-hash
detail-size = Size
detail-size-value = { $size } ({ $bytes } bytes) in { $files ->
    [one] { $files } file
   *[other] { $files } files
}
detail-category = Category
detail-release = Release
detail-similar = Other releases
detail-swarm = Swarm
detail-seeders = { $n } seeders
detail-leechers = { $n } leechers
detail-completed = { $n } completed
detail-swarm-unknown = unknown
detail-pieces = Pieces
detail-private = Private
yes = yes
no = no
detail-created = Created
detail-indexed = Indexed
detail-created-by = Created by
detail-origin = Learned from
origin-tracker = this instance's tracker
origin-peer = the magnetar instance
origin-source = the hash list
origin-others = more from there
detail-comment = Comment
detail-preview = preview
detail-files = Files
detail-more-files = { $n ->
    [one] … and { $n } more file.
   *[other] … and { $n } more files.
}
detail-trackers = Trackers

stats-torrents = Torrents indexed
stats-total-size = Total size
stats-index-size = Index on disk
stats-categories = Categories
stats-tracker = Tracker
stats-no-tracker = No tracker statistics (set catalog.tracker_metrics_url).
stats-crawler = Crawler
stats-no-crawler = No crawler status yet.

error-back = Back to the newest torrents

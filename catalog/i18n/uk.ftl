# Українська.
language-name = Українська
decimal-separator = ,
size-b = { $n } Б
size-kib = { $n } КіБ
size-mib = { $n } МіБ
size-gib = { $n } ГіБ
size-tib = { $n } ТіБ
size-pib = { $n } ПіБ
month-1 = січня
month-2 = лютого
month-3 = березня
month-4 = квітня
month-5 = травня
month-6 = червня
month-7 = липня
month-8 = серпня
month-9 = вересня
month-10 = жовтня
month-11 = листопада
month-12 = грудня
date = { $day } { $month } { $year }

search-placeholder = Пошук торентів
search-button = Шукати
nav-newest = Нові
nav-stats = Статистика
nav-rss = RSS
footer-nojs = працює без JavaScript
footer-api = API
footer-language = Мова

title-newest = Нові торенти
title-search = Пошук: { $q }
title-stats = Статистика
filter-category = Категорія
filter-any = будь-яка
filter-min-size = Від розміру
filter-max-size = До розміру
filter-from = З
filter-to = По
filter-sort = Порядок
filter-apply = Застосувати
facet-category = Категорія
facet-resolution = Роздільність
facet-year = Рік
facet-all = усі
sort-relevance = за релевантністю
sort-newest = спершу нові
sort-oldest = спершу старі
sort-size = за розміром
sort-name = за назвою
sort-seeders = за сідами
sort-leechers = за лічерами
results-count = { $n ->
    [one] { $n } результат
    [few] { $n } результати
   *[many] { $n } результатів
}
results-count-about = близько { $n } результатів
indexed-count = { $n ->
    [one] { $n } торент у каталозі
    [few] { $n } торенти в каталозі
   *[many] { $n } торентів у каталозі
}
empty = Тут поки нічого немає.
col-name = Назва
col-size = Розмір
col-files = Файли
col-added = Додано
col-seeders = С
col-seeders-title = сіди
col-leechers = Л
col-leechers-title = лічери
magnet = magnet
magnet-title = magnet-посилання
page-prev = ← попередня
page-next = наступна →
page-of = сторінка { $page } з { $pages }

detail-magnet = Magnet-посилання
detail-download = Завантажити .torrent
detail-hash = Інфо-хеш
detail-size = Розмір
detail-size-value = { $size } ({ $bytes } байтів), { $files ->
    [one] { $files } файл
    [few] { $files } файли
   *[many] { $files } файлів
}
detail-category = Категорія
detail-release = Реліз
detail-similar = Інші релізи
detail-swarm = Рій
detail-seeders = сідів: { $n }
detail-leechers = лічерів: { $n }
detail-completed = завершено: { $n }
detail-swarm-unknown = невідомо
detail-pieces = Частини
detail-private = Приватний
yes = так
no = ні
detail-created = Створено
detail-indexed = Додано до каталогу
detail-created-by = Програма
detail-origin = Звідки
origin-tracker = трекер цього каталогу
origin-peer = каталог magnetar
origin-source = список хешів
origin-others = ще звідти
detail-comment = Коментар
detail-preview = прев'ю
detail-files = Файли
detail-more-files = … і ще { $n ->
    [one] { $n } файл.
    [few] { $n } файли.
   *[many] { $n } файлів.
}
detail-trackers = Трекери

stats-torrents = Торентів у каталозі
stats-total-size = Загальний розмір
stats-index-size = Індекс на диску
stats-categories = Категорії
stats-tracker = Трекер
stats-no-tracker = Статистики трекера немає (задайте catalog.tracker_metrics_url).
stats-crawler = Краулер
stats-no-crawler = Стану краулера ще немає.

error-back = Повернутися до нових торентів

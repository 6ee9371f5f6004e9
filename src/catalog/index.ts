/**
 * The catalog: products and sale events as the operator creates them and buyers browse them, and
 * the rules of an event's window.
 *
 * The front door: other areas import the catalog from here only (.dependency-cruiser.cjs). It may
 * use identity and the stock module's front door (a rebuild's records); never the sale or orders.
 */

export { cachedEventView, catalogKeys, createEvent, createProduct, deleteEvent, deleteProduct, getProduct, listEvents, listProducts, updateEvent, updateProduct, warmUpEvent } from './catalog'
export type { CatalogDeps } from './catalog'
export { CatalogCache } from './catalog-cache'
export { LINE_MESSAGE_MAX, endEventNow, pauseEvent, resumeEvent, setLineMessage } from './sale-controls'
export { MAX_SHARDS, MAX_STOCK, entryLeadMs, eventsRepository, windowStatus } from './events'
export type { EventChanges, EventSortField, EventsRepository, StartPlacement } from './events'
export { startDrawView } from './start-draw'
export { drawAnswers, drawView } from './draw-view'
export type { DrawAnswerOptions, DrawAnswers } from './draw-view'
export { productsRepository } from './products'
export type { ProductSortField, ProductsRepository } from './products'
